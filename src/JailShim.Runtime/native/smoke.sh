#!/bin/sh
# Smoke test of jailshim-shim against PROTOCOL.md. Run as root on Linux.
# Builds the shim into a temp dir, makes a tiny rootfs from host binaries,
# runs a sandbox (infra) and containers in it, checks the reports, control
# socket, exit records and the CRI log, and leaves no process, mount, cgroup
# or file behind. Only processes this script started are signalled, by pid.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
T=$(mktemp -d /tmp/jailshim-smoke.XXXXXX)
CG=/sys/fs/cgroup/pids/jailshim-smoke-$$
TAB=$(printf '\t')
INFRA=
POST=
FAILS=0
PASSES=0

ok()   { PASSES=$((PASSES + 1)); echo "PASS: $*"; }
bad()  { FAILS=$((FAILS + 1)); echo "FAIL: $*"; }
check() { # check DESCRIPTION 'SHELL CODE' (eval'd in a subshell)
	if (eval "$2") >/dev/null 2>&1; then ok "$1"; else bad "$1"; fi
}
# one spec line: fields joined by TAB
l() { (IFS=$TAB; printf '%s\n' "$*"); }
# one control request; prints the reply (the monitor closes after replying)
ctl() {
	python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.settimeout(30)
s.connect(sys.argv[1])
s.sendall((sys.argv[2] + "\n").encode())
out = b""
while True:
    d = s.recv(4096)
    if not d:
        break
    out += d
sys.stdout.write(out.decode())
' "$1" "$2"
}
alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
wait_gone() { # wait_gone PID: up to 5 s
	i=0
	while alive "$1" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	! alive "$1"
}
shim_procs() { # processes running our binary
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/exe" 2>/dev/null)" = "$T/shim" ] && echo "${p#/proc/}"
	done
	return 0
}

cleanup() {
	trap - EXIT INT TERM
	for p in $(shim_procs); do kill -KILL "$p" 2>/dev/null; done   # ours only
	if alive "$INFRA"; then kill -KILL "$INFRA"; wait_gone "$INFRA"; fi
	sleep 0.2
	grep -q " $T" /proc/self/mountinfo && grep " $T" /proc/self/mountinfo | awk '{print $5}' | sort -r | xargs -r umount -l
	[ -d "$CG" ] && rmdir "$CG" 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

[ "$(id -u)" = 0 ] || { echo "run as root"; exit 2; }

# ---------------------------------------------------------------- build
cc -O2 -Wall -Wextra -Werror -std=gnu11 -o "$T/shim" "$HERE/jailshim-shim.c" || { echo "FAIL: build"; exit 1; }
ok "build with -Wall -Wextra -Werror"

# ---------------------------------------------------------------- rootfs
L=$T/lower
mkdir -p "$L/bin" "$L/etc" "$L/tmp"
for b in /bin/dash /bin/echo /bin/cat /bin/sleep /bin/ls /bin/hostname /usr/bin/ps; do
	cp "$b" "$L/bin/"
	for lib in $(ldd "$b" | grep -o '/[^ ]*'); do
		mkdir -p "$L$(dirname "$lib")"
		cp -L "$lib" "$L$lib"
	done
done
ln -s dash "$L/bin/sh"
ln -s "$T/outside" "$L/escape"     # an image symlink pointing at a host path
echo "smoke bind" > "$T/bindfile"

if [ -d /sys/fs/cgroup/pids ] && mkdir "$CG" 2>/dev/null; then
	CGL=$(l cgroup "$CG/cgroup.procs")
else
	CG=; CGL=
fi

# ---------------------------------------------------------------- sandbox
mkdir -p "$T/sb"
{
	[ -n "$CGL" ] && echo "$CGL"
	l clone net,ipc,uts,pid
	l hostname smoke-pod
	l lo-up
	l end
} > "$T/sb/spec"
"$T/shim" sandbox < "$T/sb/spec" > "$T/sb/out"; rc=$?
echo "--- sandbox report (exit $rc)"; cat "$T/sb/out"
INFRA=$(awk '$1 == "created" { print $2 }' "$T/sb/out")
check "sandbox: exit 0, created, infra alive" "[ $rc = 0 ] && kill -0 '$INFRA'"
check "sandbox: phases clone, sethostname, lo_up with errno 0" \
	"grep -q '^phase clone [0-9]* [0-9]* 0 net,ipc,uts,pid' '$T/sb/out' && grep -q '^phase sethostname .* 0 smoke-pod' '$T/sb/out' && grep -q '^phase lo_up .* 0 lo' '$T/sb/out'"
[ -n "$CG" ] && check "sandbox: infra in the smoke cgroup" "grep -qx '$INFRA' '$CG/cgroup.procs'"
check "sandbox: infra has its own net ns" "[ \"\$(readlink /proc/$INFRA/ns/net)\" != \"\$(readlink /proc/self/ns/net)\" ]"
check "sandbox: lo is up in the pod" "nsenter -t $INFRA -n cat /sys/class/net/lo/operstate | grep -qv down"

# ---------------------------------------------------------------- container spec
# cspec DIR ARGS... (ARGS are the container's argv); more directives from $EXTRA
cspec() {
	dir=$1; shift
	mkdir -p "$dir/upper" "$dir/work"
	R=$T/rootfs-$(basename "$dir")
	mkdir -p "$R"
	{
		l state-dir "$dir"
		l control "$dir/ctl.sock"
		l log "$dir/ctr.log"
		l log-line-max 64
		[ -n "$CGL" ] && echo "$CGL"
		printf '%s' "$EXTRA"
		l setns net "/proc/$INFRA/ns/net"
		l setns ipc "/proc/$INFRA/ns/ipc"
		l setns uts "/proc/$INFRA/ns/uts"
		l rootfs "$R"
		l op-mount overlay "$R" overlay - "lowerdir=$L,upperdir=$dir/upper,workdir=$dir/work"
		l op-mount proc "$R/proc" proc nosuid,nodev,noexec -
		l op-mount tmpfs "$R/dev" tmpfs nosuid,strictatime mode=755,size=65536k
		l op-mknod "$R/dev/null" 20666 1 3
		l op-mknod "$R/dev/zero" 20666 1 5
		l op-mknod "$R/dev/full" 20666 1 7
		l op-mknod "$R/dev/random" 20666 1 8
		l op-mknod "$R/dev/urandom" 20666 1 9
		l op-mknod "$R/dev/tty" 20666 5 0
		l op-mount devpts "$R/dev/pts" devpts nosuid,noexec newinstance,ptmxmode=0666,mode=0620
		l op-symlink pts/ptmx "$R/dev/ptmx"
		l op-symlink /proc/self/fd "$R/dev/fd"
		l op-mount shm "$R/dev/shm" tmpfs nosuid,nodev,noexec mode=1777,size=65536k
		l op-mount mqueue "$R/dev/mqueue" mqueue nosuid,nodev,noexec -
		l op-mount sysfs "$R/sys" sysfs ro,nosuid,nodev,noexec -
		l op-mount "$T/bindfile" "$R/etc/smoke/bindfile" - bind,ro -
		l op-mkdir "$R/var/empty" 0711
		l op-mkdir "$R/escape/made-inside" 0755
		l op-pivot-root "$R"
		l op-mount /proc/sys /proc/sys - bind,rec -
		l op-remount-ro /proc/sys
		printf '%s' "$POST"
		l env PATH=/usr/bin:/bin
		l env HOME=/
		l cwd /
		l caps a80425fb
		l no-new-privs
		l oom-score-adj 100
		for a in "$@"; do l arg "$a"; done
		l end
	} > "$dir/spec"
}
# create DIR: run the shim, print its report, set PID/MON
create() {
	"$T/shim" container < "$1/spec" > "$1/out"; crc=$?
	echo "--- create $(basename "$1") (exit $crc)"; cat "$1/out"
	PID=$(awk '$1 == "created" { print $2 }' "$1/out")
	MON=$(awk '$1 == "created" { print $3 }' "$1/out")
}

# ---------------------------------------------------------------- container 1: output
EXTRA=$(l clone mnt,pid)
EXTRA="$EXTRA
"
POST="$(l op-remount-ro /)
"   # read-only rootfs, after pivot_root
cspec "$T/c1" sh -c 'echo pid=$$; hostname; ls /; cat /etc/smoke/bindfile; (echo x > /probe) 2>/dev/null || echo rootfs-ro; echo err >&2; i=0; while [ $i -lt 150 ]; do printf x; i=$((i+1)); done; echo; printf nonl; exec sleep 2'
create "$T/c1"
check "c1: create exit 0 and created PID MONITOR" "[ $crc = 0 ] && [ -n '$PID' ] && kill -0 $MON"
check "c1: phases in order (setns, cgroup, mount, pivot_root, caps) all errno 0" \
	"! grep '^phase' '$T/c1/out' | awk '\$5 != 0' | grep -v oom_score_adj | grep -q . && grep -q '^phase pivot_root' '$T/c1/out' && grep -q '^phase caps' '$T/c1/out'"
check "c1: state is created" "ctl '$T/c1/ctl.sock' state | grep -qx 'created $PID'"
check "c1: no overlay leaked into the host mount table" "! grep -q ' $T' /proc/self/mountinfo"
r=$(ctl "$T/c1/ctl.sock" start); echo "--- start: $r"
ctl "$T/c1/ctl.sock" wait > "$T/c1/wait" &   # pending until the exit
WAITER=$!
check "c1: start replies phase exec + started NS" "echo '$r' | grep -q '^phase exec .* 0 sh' && echo '$r' | grep -q '^started [0-9]*$'"
S1=$(echo "$r" | awk '$1 == "started" { print $2 }')
check "c1: started file = NS of the reply" "grep -qx '$S1' '$T/c1/started'"
check "c1: second start refused" "ctl '$T/c1/ctl.sock' start | grep -q '^error start 114'"
wait $WAITER
r=$(cat "$T/c1/wait"); echo "--- wait: $r"
check "c1: wait -> exited 0 0 NS" "echo '$r' | grep -q '^exited 0 0 [0-9]*$'"
wait_gone "$MON"
check "c1: monitor gone, socket removed" "! kill -0 $MON 2>/dev/null && [ ! -e '$T/c1/ctl.sock' ]"
echo "--- c1 exit record"; cat "$T/c1/exit"
check "c1: exit record CODE SIGNAL STARTED FINISHED" "grep -Eq '^0 0 [1-9][0-9]* [1-9][0-9]*\$' '$T/c1/exit'"
echo "--- c1 log"; cat "$T/c1/ctr.log"; echo "<EOF>"
LOG=$T/c1/ctr.log
check "log: every record is RFC3339NANO STREAM TAG MESSAGE" \
	"! grep -Evq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z (stdout|stderr) [PF] ' '$LOG'"
check "log: pid 1 in its own pid ns" "grep -q ' stdout F pid=1\$' '$LOG'"
check "log: hostname of the pod (joined uts)" "grep -q ' stdout F smoke-pod\$' '$LOG'"
check "log: ls / inside the new root" "grep -q ' stdout F bin\$' '$LOG'"
check "log: ro bind of a file" "grep -q ' stdout F smoke bind\$' '$LOG'"
check "log: op-remount-ro / made the rootfs read-only" "grep -q ' stdout F rootfs-ro\$' '$LOG'"
check "log: stderr stream" "grep -q ' stderr F err\$' '$LOG'"
check "log: 150-char line split P(64) P(64) F(22)" \
	"grep -c ' stdout P x\{64\}$' '$LOG' | grep -qx 2 && grep -q ' stdout F x\{22\}$' '$LOG'"
check "log: last line without newline is F" "tail -n 1 '$LOG' | grep -q ' stdout F nonl$'"

POST=
# ---------------------------------------------------------------- container 2: kill 15
# no pid ns of its own: joins the pod's (so SIGTERM is not dropped as for a PID 1)
EXTRA=$(l clone mnt; l setns pid "/proc/$INFRA/ns/pid")
EXTRA="$EXTRA
"
cspec "$T/c2" sleep 100
create "$T/c2"
check "c2: created in the pod's pid ns" "[ $crc = 0 ] && [ \"\$(readlink /proc/$PID/ns/pid)\" = \"\$(readlink /proc/$INFRA/ns/pid)\" ]"
ctl "$T/c2/ctl.sock" start >/dev/null
check "c2: running" "ctl '$T/c2/ctl.sock' state | grep -qx 'running $PID'"
check "c2: cgroup attach" "[ -z '$CG' ] || grep -qx $PID '$CG/cgroup.procs'"
check "c2: caps after exec = mask" "grep -q '^CapEff:.*a80425fb' /proc/$PID/status && grep -q '^CapBnd:.*a80425fb' /proc/$PID/status"
check "c2: no_new_privs" "grep -q '^NoNewPrivs:.*1' /proc/$PID/status"
check "c2: fds are 0,1,2 only" "[ \"\$(ls /proc/$PID/fd | tr '\n' ' ')\" = '0 1 2 ' ]"
check "c2: monitor is a session leader (setsid)" "[ \"\$(awk '{print \$6}' /proc/$MON/stat)\" = $MON ]"
mv "$T/c2/ctr.log" "$T/c2/ctr.log.1"
check "c2: reopen -> ok, new log file" "ctl '$T/c2/ctl.sock' reopen | grep -qx ok && [ -f '$T/c2/ctr.log' ]"
ctl "$T/c2/ctl.sock" wait > "$T/c2/wait" &   # a pending wait, answered on exit
WAITER=$!
sleep 0.2
r=$(ctl "$T/c2/ctl.sock" "kill 15"); echo "--- kill 15: $r"
wait $WAITER
r=$(cat "$T/c2/wait"); echo "--- wait: $r"
check "c2: kill 15 stops sleep 100: exited 143 15" "echo '$r' | grep -q '^exited 143 15 '"
wait_gone "$MON"
echo "--- c2 exit record"; cat "$T/c2/exit"
check "c2: exit record 143 15" "grep -Eq '^143 15 [1-9][0-9]* [1-9][0-9]*\$' '$T/c2/exit'"

check "c1: image symlink to a host path resolved inside the root" \
	"[ ! -e '$T/outside' ] && [ -d '$T/c1/upper$T/outside/made-inside' ]"

# ---------------------------------------------------------------- container 5: non-root user, PID 1
EXTRA=$(l clone mnt,pid; l user 1000 1000; l groups 1000,1001)
EXTRA="$EXTRA
"
cspec "$T/c5" sleep 100
create "$T/c5"
ctl "$T/c5/ctl.sock" start >/dev/null
check "c5: uid/gid/groups 1000, caps gone, bounding = mask" \
	"grep -Eq '^Uid:\s+1000\s+1000\s+1000\s+1000' /proc/$PID/status && grep -Eq '^Groups:\s+1000 1001' /proc/$PID/status && grep -q '^CapEff:\s*0000000000000000' /proc/$PID/status && grep -q '^CapPrm:\s*0000000000000000' /proc/$PID/status && grep -q '^CapBnd:.*a80425fb' /proc/$PID/status"
ctl "$T/c5/ctl.sock" wait > "$T/c5/wait" &
WAITER=$!
ctl "$T/c5/ctl.sock" "kill 15" >/dev/null
sleep 0.3
check "c5: kill 15 to a PID 1 without handler is dropped by the kernel" "ctl '$T/c5/ctl.sock' state | grep -qx 'running $PID'"
ctl "$T/c5/ctl.sock" "kill 9" >/dev/null
wait $WAITER
r=$(cat "$T/c5/wait"); echo "--- wait: $r"
check "c5: kill 9 -> exited 137 9" "echo '$r' | grep -q '^exited 137 9 '"
wait_gone "$MON"

# ---------------------------------------------------------------- container 3: exec failure
EXTRA=$(l clone mnt,pid)
EXTRA="$EXTRA
"
cspec "$T/c3" no-such-binary
create "$T/c3"
r=$(ctl "$T/c3/ctl.sock" start); echo "--- start: $r"
check "c3: start -> error exec 2" "echo '$r' | grep -q '^error exec 2 '"
wait_gone "$MON"
echo "--- c3 exit record"; cat "$T/c3/exit"
check "c3: exit record code 128, never started" "grep -Eq '^128 0 0 [1-9][0-9]*\$' '$T/c3/exit'"

# ---------------------------------------------------------------- container 4: set-up failure rolls back
EXTRA=$(l clone mnt,pid; l op-mount /nonexistent-smoke "$T/rootfs-c4/x" - bind -)
EXTRA="$EXTRA
"
cspec "$T/c4" true
create "$T/c4"
check "c4: bad bind -> error mount 2, exit 1, nothing left" \
	"[ $crc = 1 ] && tail -n 1 '$T/c4/out' | grep -q '^error mount 2 ' && [ ! -e '$T/c4/ctl.sock' ] && [ \"\$(shim_procs)\" = $INFRA ]"

# ---------------------------------------------------------------- bad spec
r=$(printf 'bogus\tx\nend\n' | "$T/shim" container); rc=$?
echo "--- bad spec (exit $rc): $r"
check "bad spec -> error spec 22, exit 1" "[ $rc = 1 ] && echo '$r' | grep -q '^error spec 22 '"

# ---------------------------------------------------------------- teardown
kill -TERM "$INFRA"
wait_gone "$INFRA"
check "infra exits on SIGTERM" "! kill -0 $INFRA 2>/dev/null"
check "no shim process left" "[ -z \"\$(shim_procs)\" ]"
check "no mount left under $T" "! grep -q ' $T' /proc/self/mountinfo"
if [ -n "$CG" ]; then
	sleep 0.2
	check "smoke cgroup empty and removed" "rmdir '$CG'"
fi
echo "=== $PASSES passed, $FAILS failed"
[ "$FAILS" = 0 ]
