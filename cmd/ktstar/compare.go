package main

func (c *cli) compare(paths []string) int { return exitError }

func (c *cli) report(paths []string) int { return exitError }
