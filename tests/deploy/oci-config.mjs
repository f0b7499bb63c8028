// Writes an OCI runtime config.json (for `runc run`) that runs the image the way a
// Kubernetes node would run the rendered DaemonSet of one variant: the same
// capabilities, no_new_privs, read-only root, hostPath mounts, environment and args.
// It is generated from the manifests, so the container test runs what they say.
//
//   node oci-config.mjs --variant base|minimal --rootfs DIR --image-config FILE \
//        --listen 127.0.0.1:PORT --node NAME [--arg ARG ...] > config.json
//
// --arg appends an argument to the manifest's (the test's --uprobe, which a real
// deployment would add in an overlay of its own).
//
// Where it departs from a kubelet, on purpose:
// - the host's network namespace: a pod has its own (the DaemonSet has no hostNetwork),
//   but here the host's loopback is the simple way to reach the agent, and the kernel's
//   tracepoints see the host's TCP either way;
// - no cgroup settings and no process.rlimits (runc cannot apply them in this sandbox),
//   so resources.limits are not enforced;
// - no service-account token, /etc/hosts or /etc/resolv.conf mounts (the agent calls
//   no API and resolves no name);
// - the privileged variant gets every capability the runtime holds and a read-write
//   /sys, as a privileged pod does, but not the host's devices (the agent opens none).
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { k8sDir, render } from "./lib.mjs";

const { values: opt } = parseArgs({
	options: {
		variant: { type: "string" },
		rootfs: { type: "string" },
		"image-config": { type: "string" },
		listen: { type: "string" },
		node: { type: "string" },
		arg: { type: "string", multiple: true },
	},
});
for (const k of ["variant", "rootfs", "image-config", "listen", "node"])
	if (!opt[k]) { console.error(`oci-config: --${k} is required`); process.exit(2); }

const ds = render(path.join(k8sDir, opt.variant)).find((o) => o.kind === "DaemonSet");
const pod = ds.spec.template.spec;
const [c] = pod.containers;
const sc = c.securityContext ?? {};
const image = JSON.parse(fs.readFileSync(opt["image-config"], "utf8"));

// Capability names, in kernel order (include/uapi/linux/capability.h).
const ALL_CAPS = ["CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER", "FSETID", "KILL", "SETGID",
	"SETUID", "SETPCAP", "LINUX_IMMUTABLE", "NET_BIND_SERVICE", "NET_BROADCAST", "NET_ADMIN", "NET_RAW",
	"IPC_LOCK", "IPC_OWNER", "SYS_MODULE", "SYS_RAWIO", "SYS_CHROOT", "SYS_PTRACE", "SYS_PACCT",
	"SYS_ADMIN", "SYS_BOOT", "SYS_NICE", "SYS_RESOURCE", "SYS_TIME", "SYS_TTY_CONFIG", "MKNOD", "LEASE",
	"AUDIT_WRITE", "AUDIT_CONTROL", "SETFCAP", "MAC_OVERRIDE", "MAC_ADMIN", "SYSLOG", "WAKE_ALARM",
	"BLOCK_SUSPEND", "AUDIT_READ", "PERFMON", "BPF", "CHECKPOINT_RESTORE"];
// A privileged container gets every capability the runtime itself holds (containerd and
// CRI-O take their own set): here, this process's bounding set. (This sandbox holds all
// but SYS_RESOURCE, so that is what the privileged variant gets here.)
const bounding = BigInt("0x" + fs.readFileSync("/proc/self/status", "utf8").match(/^CapBnd:\s*([0-9a-f]+)$/m)[1]);
const runtimeCaps = ALL_CAPS.filter((_, i) => (bounding >> BigInt(i)) & 1n);

let caps;
if (sc.privileged) {
	caps = runtimeCaps;
} else {
	const drop = sc.capabilities?.drop ?? [];
	// Only "drop ALL, then add" is mirrored: the runtime's default set is not known here.
	if (!drop.includes("ALL")) throw new Error("oci-config: a non-privileged variant must drop ALL");
	caps = (sc.capabilities?.add ?? []).map((n) => n.replace(/^CAP_/, ""));
	for (const n of caps) if (!ALL_CAPS.includes(n)) throw new Error(`oci-config: unknown capability ${n}`);
}
// No seccomp filter: what seccompProfile Unconfined (or none, on a kubelet without
// SeccompDefault) gives.
const seccomp = sc.seccompProfile?.type ?? "Unconfined";
if (seccomp !== "Unconfined") throw new Error(`oci-config: seccompProfile ${seccomp} is not mirrored`);
const capList = caps.map((n) => `CAP_${n}`);

// The downward API: only spec.nodeName is used.
const env = [...(image.Env ?? ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"])];
for (const e of c.env ?? []) {
	if (e.value !== undefined) env.push(`${e.name}=${e.value}`);
	else if (e.valueFrom?.fieldRef?.fieldPath === "spec.nodeName") env.push(`${e.name}=${opt.node}`);
	else throw new Error(`oci-config: env ${e.name}: only value and fieldRef spec.nodeName are mirrored`);
}

// args replace the image's CMD; the entrypoint stays (no `command:` in the manifest).
if (c.command) throw new Error("oci-config: container command is not mirrored");
const args = (c.args ?? []).map((a) =>
	a.startsWith("--web.listen-address=") ? `--web.listen-address=${opt.listen}` : a).concat(opt.arg ?? []);

// What containerd gives every container, then the pod's hostPath volumes.
const mounts = [
	{ destination: "/proc", type: "proc", source: "proc", options: ["nosuid", "noexec", "nodev"] },
	{ destination: "/dev", type: "tmpfs", source: "tmpfs", options: ["nosuid", "strictatime", "mode=755", "size=65536k"] },
	{ destination: "/dev/pts", type: "devpts", source: "devpts",
		options: ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"] },
	{ destination: "/dev/shm", type: "tmpfs", source: "shm", options: ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"] },
	{ destination: "/dev/mqueue", type: "mqueue", source: "mqueue", options: ["nosuid", "noexec", "nodev"] },
	{ destination: "/sys", type: "sysfs", source: "sysfs", options: ["nosuid", "noexec", "nodev", sc.privileged ? "rw" : "ro"] },
];
const volumes = Object.fromEntries(pod.volumes.map((v) => [v.name, v]));
for (const m of c.volumeMounts ?? []) {
	const v = volumes[m.name];
	if (!v?.hostPath) throw new Error(`oci-config: volume ${m.name} is not a hostPath`);
	// A kubelet bind-mounts a hostPath recursively, propagation None (rprivate).
	mounts.push({ destination: m.mountPath, type: "bind", source: v.hostPath.path,
		options: ["rbind", "rprivate", m.readOnly ? "ro" : "rw"] });
}

// hostPID: no pid namespace. The network namespace: see above.
const namespaces = [{ type: "mount" }, { type: "ipc" }, { type: "uts" }];
if (!pod.hostPID) namespaces.push({ type: "pid" });

const config = {
	ociVersion: "1.0.2",
	process: {
		terminal: false,
		user: { uid: 0, gid: 0 },
		args: [...(image.Entrypoint ?? []), ...args],
		env,
		cwd: image.WorkingDir || "/",
		capabilities: { bounding: capList, effective: capList, permitted: capList, inheritable: [], ambient: [] },
		// allowPrivilegeEscalation: false is no_new_privs; a privileged container has it off.
		noNewPrivileges: sc.allowPrivilegeEscalation === false,
	},
	root: { path: path.resolve(opt.rootfs), readonly: sc.readOnlyRootFilesystem === true },
	hostname: "reqlens",
	mounts,
	linux: {
		namespaces,
		// containerd's masks for a non-privileged container; a privileged one has none.
		maskedPaths: sc.privileged ? [] : ["/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
			"/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug",
			"/proc/scsi", "/sys/firmware", "/sys/devices/virtual/powercap"],
		readonlyPaths: sc.privileged ? [] : ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"],
	},
};
process.stdout.write(JSON.stringify(config, null, 2) + "\n");
