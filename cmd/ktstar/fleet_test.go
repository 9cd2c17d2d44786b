package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/ktstar/ktstar/gauntlet"
)

// TestFleetKubernetesJob checks examples/fleet/gauntlet-job.yaml against
// Kubernetes' own types (k8s.io/api, decoded strictly: an unknown or
// mistyped field fails), that its Job is Indexed with as many completions
// as the gauntlet's --shard-count and gives the pods /dev/kvm and the
// results volume, that its scenarios pass ktstar check, and runs a pod's
// command line (on the host, shard 1) through the real binary. kubectl
// apply --dry-run=client cannot stand in here: it fetches the schema from
// an API server, which this machine has none of.
func TestFleetKubernetesJob(t *testing.T) {
	b, err := os.ReadFile("../../examples/fleet/gauntlet-job.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var (
		job *batchv1.Job
		pvc *corev1.PersistentVolumeClaim
		cm  *corev1.ConfigMap
	)
	for i, doc := range strings.Split(string(b), "\n---\n") {
		var meta struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &meta); err != nil {
			t.Fatalf("document %d: %v", i, err)
		}
		var obj any
		switch meta.Kind {
		case "Job":
			job = &batchv1.Job{}
			obj = job
		case "PersistentVolumeClaim":
			pvc = &corev1.PersistentVolumeClaim{}
			obj = pvc
		case "ConfigMap":
			cm = &corev1.ConfigMap{}
			obj = cm
		default:
			t.Fatalf("document %d: kind %q", i, meta.Kind)
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Fatalf("document %d (%s): %v", i, meta.Kind, err)
		}
	}
	if job == nil || pvc == nil || cm == nil {
		t.Fatalf("want a Job, a PersistentVolumeClaim and a ConfigMap")
	}
	spec := job.Spec
	if spec.CompletionMode == nil || *spec.CompletionMode != batchv1.IndexedCompletion || spec.Completions == nil {
		t.Fatalf("the Job is not Indexed with completions: %+v", spec)
	}
	pod := spec.Template.Spec
	if pod.RestartPolicy != corev1.RestartPolicyNever || len(pod.Containers) != 1 {
		t.Errorf("restartPolicy %q, %d containers", pod.RestartPolicy, len(pod.Containers))
	}
	c := pod.Containers[0]
	line := strings.Join(c.Args, " ")
	m := regexp.MustCompile(`--shard-count (\d+)`).FindStringSubmatch(line)
	if m == nil || m[1] != strconv.Itoa(int(*spec.Completions)) {
		t.Errorf("--shard-count %v, want the completions %d: %s", m, *spec.Completions, line)
	}
	mounts := map[string]string{}
	for _, vm := range c.VolumeMounts {
		mounts[vm.Name] = vm.MountPath
	}
	for _, v := range pod.Volumes {
		switch {
		case v.HostPath != nil:
			if v.HostPath.Path != "/dev/kvm" || mounts[v.Name] != "/dev/kvm" || v.HostPath.Type == nil || *v.HostPath.Type != corev1.HostPathCharDev {
				t.Errorf("hostPath volume %s: %+v at %q, want /dev/kvm as a CharDevice", v.Name, v.HostPath, mounts[v.Name])
			}
		case v.PersistentVolumeClaim != nil:
			if v.PersistentVolumeClaim.ClaimName != pvc.Name || !strings.Contains(line, "-o "+mounts[v.Name]+"/shard-$JOB_COMPLETION_INDEX") {
				t.Errorf("results volume %s: claim %q at %q; the PVC is %q; command %s", v.Name, v.PersistentVolumeClaim.ClaimName, mounts[v.Name], pvc.Name, line)
			}
		case v.ConfigMap != nil:
			if v.ConfigMap.Name != cm.Name {
				t.Errorf("scenarios volume: config map %q, want %q", v.ConfigMap.Name, cm.Name)
			}
		}
	}
	// The scenarios, where the pod finds them, pass ktstar check.
	scen := t.TempDir()
	for name, src := range cm.Data {
		p := filepath.Join(scen, name)
		writeFile(t, p, src)
		if out, errs, code := ktstar(t, "", "check", p); code != 0 {
			t.Errorf("%s: ktstar check: exit %d\n%s%s", name, code, out, errs)
		}
	}
	// A pod's command line, shard 1, with the binary under test on the
	// host and the volumes in temporary directories.
	results := t.TempDir()
	cmdline := strings.NewReplacer("ktstar gauntlet", bin+" gauntlet --host --set duration=100ms",
		mounts["results"], results, mounts["scenarios"], scen).Replace(line)
	sh := exec.Command(c.Command[0], append(c.Command[1:], cmdline)...)
	sh.Env = append(os.Environ(), "JOB_COMPLETION_INDEX=1")
	if out, err := sh.CombinedOutput(); err != nil {
		t.Fatalf("the pod's command: %v\n%s", err, out)
	}
	r, err := gauntlet.Open(filepath.Join(results, "shard-1"))
	if err != nil {
		t.Fatal(err)
	}
	if n, total := len(r.Records), len(r.Manifest.Cells); n != total/int(*spec.Completions) || r.Manifest.Shard != "1/"+m[1] {
		t.Errorf("shard %s ran %d of %d cells", r.Manifest.Shard, n, total)
	}
}

// TestFleetSlurmArray runs examples/fleet/gauntlet.sbatch as the second
// task of an array numbered from 1 (--array=1-2), on the host: it must
// run shard 1 of 2 into $RESULTS/shard-1 and exit 0 although a cell fails.
func TestFleetSlurmArray(t *testing.T) {
	scen := gauntletScenarios(t)
	results := t.TempDir()
	cmd := exec.Command("bash", append([]string{"../../examples/fleet/gauntlet.sbatch"}, scen...)...)
	cmd.Env = append(os.Environ(), "SLURM_ARRAY_TASK_ID=2", "SLURM_ARRAY_TASK_MIN=1", "SLURM_ARRAY_TASK_COUNT=2",
		"KTSTAR="+bin, "RESULTS="+results, "PRESETS=tiny-1llc", "GAUNTLET_FLAGS=--host")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sbatch script: %v\n%s", err, out)
	}
	r, err := gauntlet.Open(filepath.Join(results, "shard-1"))
	if err != nil {
		t.Fatal(err)
	}
	// Three cells; shard 1 of 2 is the second: bad.star, which fails.
	rec, ok := r.Records["bad/tiny-1llc/default/default"]
	if len(r.Records) != 1 || !ok || rec.Status != gauntlet.Fail || r.Manifest.Shard != "1/2" {
		t.Errorf("shard %s records %+v", r.Manifest.Shard, r.Records)
	}
}
