#!/usr/bin/env bash
# Builds, once, a sched_ext test bed into ~/.cache/ktstar/sched-ext-kit
# (make sched-ext-kit): a guest kernel with CONFIG_SCHED_CLASS_EXT and the
# kernel's example schedulers scx_simple and scx_qmap, from Debian trixie's
# linux-source-6.12. Debian's own kernels lack sched_ext; its kernel source
# package does not. The source package is fetched with `apt-get download`
# through a sources list of ktstar's own (the host's apt configuration is
# not touched) and unpacked, never installed. The schedulers are built with
# bookworm's clang-16. A finished kit is reused; delete the directory to
# rebuild. Build tools missing on the host are installed with apt-get when
# run as root, else named.
#
# Use:  ktstar vm --kernel sched-ext-kit \
#         --scheduler ~/.cache/ktstar/sched-ext-kit/scx_simple SCRIPT.star
set -euo pipefail

kit=${KTSTAR_SCHED_EXT_KIT:-${XDG_CACHE_HOME:-$HOME/.cache}/ktstar/sched-ext-kit}
if [[ -f $kit/.complete ]]; then
	echo "sched-ext-kit: $kit is built (delete it to rebuild)"
	exit 0
fi
start=$(date +%s)
work=$kit/work
mkdir -p "$work"

# Build tools: the kernel (gcc, flex, bison, bc, libelf, openssl, pahole for
# BTF) and tools/sched_ext (clang-16, libelf and zlib for bpftool/libbpf).
pkgs=(gcc make bc flex bison libelf-dev libssl-dev dwarves clang-16 llvm-16 zlib1g-dev pkg-config python3 xz-utils cpio)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
	if [[ $(id -u) != 0 ]]; then
		echo "sched-ext-kit: missing build tools; as root: apt-get install ${missing[*]}" >&2
		exit 1
	fi
	# A fresh system (CI) has no package lists yet.
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The source package, from trixie through ktstar's own apt state.
apt=$kit/apt
mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian trixie main" >"$apt/sources.list"
aptopts=(-q -o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Dir::Etc::Preferences=/dev/null
	-o Dir::Etc::PreferencesParts=/dev/null -o APT::Sandbox::User=root -o Debug::NoLocking=1)
src=$(ls -d "$work"/linux-source-6.12 2>/dev/null || true)
if [[ -z $src ]]; then
	# A package fetched by an earlier, interrupted run is reused: apt-get
	# download moves it into place only once complete.
	deb=$(ls "$work"/linux-source-6.12_*.deb 2>/dev/null | head -n1 || true)
	if [[ -z $deb ]] || ! dpkg-deb --info "$deb" >/dev/null 2>&1; then
		rm -f "$work"/linux-source-6.12_*.deb
		apt-get "${aptopts[@]}" update
		(cd "$work" && apt-get "${aptopts[@]}" download linux-source-6.12)
		deb=$(ls "$work"/linux-source-6.12_*.deb)
	fi
	rm -rf "$work/deb" "$work/.src"
	dpkg-deb -x "$deb" "$work/deb"
	# Unpacked aside and renamed, so an interrupted run never leaves a
	# half tree that the next one would take for the source.
	mkdir "$work/.src"
	tar -xf "$work"/deb/usr/src/linux-source-6.12.tar.xz -C "$work/.src"
	mv "$work/.src/linux-source-6.12" "$work/linux-source-6.12"
	rm -rf "$work/deb" "$work/.src" "$deb"
	src=$work/linux-source-6.12
fi

cd "$src"
make -s defconfig
make -s kvm_guest.config
# Built in, no modules: the guest boots this bzImage with nothing else.
# What the guest does not use (graphics, sound, USB, wireless, network
# and disk drivers but virtio's, netfilter, IPv6, network file systems)
# is left out: it would double the build, DEBUG_INFO making every file
# slow to compile.
scripts/config --disable MODULES \
	--enable NUMA --enable X86_64_ACPI_NUMA --enable NUMA_EMU \
	--enable CGROUPS --enable CGROUP_SCHED --enable FAIR_GROUP_SCHED --enable CFS_BANDWIDTH \
	--enable CPUSETS --enable MEMCG --enable BLK_CGROUP --enable CGROUP_PIDS --enable CGROUP_FREEZER \
	--enable BPF --enable BPF_SYSCALL --enable BPF_JIT --enable BPF_JIT_ALWAYS_ON \
	--enable DEBUG_INFO --enable DEBUG_INFO_DWARF_TOOLCHAIN_DEFAULT --disable DEBUG_INFO_REDUCED \
	--disable DEBUG_INFO_SPLIT --enable DEBUG_INFO_BTF \
	--enable SCHED_CLASS_EXT --enable EXT_GROUP_SCHED \
	--enable DEVTMPFS --enable DEVTMPFS_MOUNT --enable BLK_DEV_INITRD --enable PRINTK --enable SCHEDSTATS \
	--disable DRM --disable AGP --disable SOUND --disable USB_SUPPORT --disable HID --disable WLAN \
	--disable WIRELESS --disable CFG80211 --disable MAC80211 --disable RFKILL --disable NETFILTER \
	--disable IPV6 --disable ETHERNET --disable NETWORK_FILESYSTEMS --disable PCCARD --disable ATA \
	--disable SCSI --disable MD --disable EXT4_FS --disable SECURITY_SELINUX --disable AUDIT
make -s olddefconfig
grep -q '^CONFIG_SCHED_CLASS_EXT=y' .config || { echo "sched-ext-kit: CONFIG_SCHED_CLASS_EXT did not stick (missing dependency?)" >&2; exit 1; }
make -j"$(nproc)" bzImage
make -C tools/sched_ext CLANG=clang-16 LLVM_STRIP=llvm-strip-16 -j"$(nproc)" scx_simple scx_qmap

tmp=$(mktemp -d "$kit/.out-XXXXXX")
cp arch/x86/boot/bzImage "$tmp/bzImage"
cp tools/sched_ext/build/bin/scx_simple tools/sched_ext/build/bin/scx_qmap "$tmp/"
mv "$tmp"/* "$kit/"
rmdir "$tmp"
touch "$kit/.complete"
echo "sched-ext-kit: built $kit/{bzImage,scx_simple,scx_qmap} in $(($(date +%s) - start))s"
