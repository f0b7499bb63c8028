// Validates deploy/kubernetes/** and deploy/prometheus/scrape.yml without a cluster:
// every object through its kubernetes-models class (and a strict unknown-field check),
// both kustomizations rendered, and the security settings of both DaemonSet variants
// asserted against fixed lists, so that a variant that quietly gains a privilege fails.
//
// Prints one line per check: "ok - NAME", "not ok - NAME: WHY" or "skip - NAME: WHY";
// exits 1 when a check failed. Run by tests/deploy/run.sh.
import fs from "node:fs";
import path from "node:path";
import { execFileSync } from "node:child_process";
import { isDeepStrictEqual } from "node:util";
import YAML from "yaml";
import { repo, k8sDir, loadDocs, render, key, modelClass, strictFields } from "./lib.mjs";

// The capabilities the minimal variant may add: exactly these, no more, no fewer.
// Changing deploy/kubernetes/minimal/securitycontext.yaml means changing this list, in
// the same review. Each one is needed by the container test of run.sh (a uprobe on a
// host server of another user, whose binary only that user can read), found by
// dropping it (Linux 6.18):
// - SYS_ADMIN: uprobe perf events (CAP_PERFMON gets EACCES since the fix for
//   CVE-2025-38466); it also passes the kernel's bpf_capable() and perfmon_capable(),
//   so BPF and PERFMON would add nothing;
// - SYS_PTRACE: /proc/PID/exe and /proc/PID/root of another user's process;
// - DAC_READ_SEARCH: reading a binary that is not readable by others.
const MINIMAL_CAPS = ["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH"];
// mountPath -> read-only?, for the hostPath volumes both variants mount (same path on the host).
const HOST_MOUNTS = {
	"/sys/kernel/btf": true,
	"/sys/kernel/tracing": false,
	"/sys/kernel/debug": true,
	"/sys/fs/bpf": false,
	"/sys/fs/cgroup": true,
};
const PORT = 10470;

let failed = 0;
async function check(name, fn) {
	try {
		const r = await fn();
		if (typeof r === "string") console.log(`skip - ${name}: ${r}`);
		else console.log(`ok - ${name}`);
	} catch (e) {
		failed++;
		console.log(`not ok - ${name}: ${e.message.split("\n").slice(0, 6).join(" | ")}`);
	}
}
function assert(cond, msg) { if (!cond) throw new Error(msg); }
function eq(actual, expected, what) {
	assert(isDeepStrictEqual(actual, expected),
		`${what}: got ${JSON.stringify(actual)}, want ${JSON.stringify(expected)}`);
}
const rel = (p) => path.relative(repo, p);

function yamlFiles(dir) {
	return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
		e.isDirectory() ? yamlFiles(path.join(dir, e.name))
			: /\.ya?ml$/.test(e.name) ? [path.join(dir, e.name)] : []).sort();
}
const isObject = (o) => o && typeof o === "object" && !Array.isArray(o) && o.apiVersion && o.kind;
const isKustomization = (o) => o.kind === "Kustomization";

// ---- every document of every file ------------------------------------------------------
const files = yamlFiles(k8sDir);
const docs = {};
for (const f of files) {
	await check(`parse ${rel(f)}`, () => {
		docs[f] = loadDocs(f);
		assert(docs[f].length > 0, "no YAML document");
	});
}
for (const f of files) {
	for (const o of docs[f] ?? []) {
		if (!isObject(o) || isKustomization(o)) continue;
		await check(`kubernetes-models ${rel(f)} ${key(o)}`, async () => {
			const Model = await modelClass(o);
			new Model(o).validate();
			const unknown = strictFields(o);
			assert(unknown.length === 0, `fields the API does not define: ${unknown.join(", ")}`);
		});
		// The strict check must not be vacuous: a made-up field has to be caught, at the
		// top and one level down.
		await check(`strict-field check catches a bogus field in ${key(o)}`, () => {
			const bogus = structuredClone(o);
			bogus.bogusTop = 1;
			const inner = bogus.spec ?? bogus.metadata;
			inner.bogusInner = 1;
			const unknown = strictFields(bogus);
			assert(unknown.includes(`${o.kind}.bogusTop`) && unknown.some((u) => u.endsWith(".bogusInner")),
				`not caught: ${JSON.stringify(unknown)}`);
		});
	}
}

// ---- kustomizations ----------------------------------------------------------------------
const baseDir = path.join(k8sDir, "base");
const minimalDir = path.join(k8sDir, "minimal");
await check("base kustomization lists every manifest in base/, and not servicemonitor.yaml", () => {
	const [k] = loadDocs(path.join(baseDir, "kustomization.yaml"));
	const present = fs.readdirSync(baseDir).filter((n) => /\.ya?ml$/.test(n) && n !== "kustomization.yaml").sort();
	eq([...k.resources].sort(), present, "resources");
	for (const dir of [baseDir, minimalDir])
		for (const r of loadDocs(path.join(dir, "kustomization.yaml"))[0].resources)
			assert(!r.includes("servicemonitor"), `${rel(dir)} includes ${r}`);
});

const rendered = {};
for (const [name, dir] of [["base", baseDir], ["minimal", minimalDir]]) {
	await check(`render ${rel(dir)}`, async () => {
		rendered[name] = render(dir);
		assert(rendered[name].length > 0, "nothing rendered");
		const keys = rendered[name].map(key);
		eq(keys.length, new Set(keys).size, "duplicate objects");
		for (const o of rendered[name]) {
			const Model = await modelClass(o);
			new Model(o).validate();
			const unknown = strictFields(o);
			assert(unknown.length === 0, `${key(o)}: unknown fields ${unknown.join(", ")}`);
		}
	});
}

// kubectl is not part of the project's dependencies (Debian has no kubectl with
// kustomize); when one is on the machine, the renderer above must agree with it.
for (const [name, dir] of [["base", baseDir], ["minimal", minimalDir]]) {
	await check(`render ${rel(dir)} agrees with kubectl kustomize`, () => {
		let out;
		try {
			out = execFileSync("kubectl", ["kustomize", dir], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
		} catch (e) {
			if (e.code === "ENOENT") return "kubectl is not installed";
			throw new Error(`kubectl kustomize failed: ${e.stderr}`);
		}
		const theirs = YAML.parseAllDocuments(out).map((d) => d.toJS()).filter(Boolean);
		const byKey = (list) => Object.fromEntries(list.map((o) => [key(o), o]));
		eq(byKey(rendered[name]), byKey(theirs), "rendered objects");
	});
}

// ---- the DaemonSets ----------------------------------------------------------------------
const ds = (name) => {
	const list = (rendered[name] ?? []).filter((o) => o.kind === "DaemonSet");
	assert(list.length === 1, `${name}: ${list.length} DaemonSets`);
	return list[0];
};
const podSpec = (d) => d.spec.template.spec;
const container = (d) => {
	const p = podSpec(d);
	eq(p.containers.length, 1, "containers");
	assert(!p.initContainers && !p.ephemeralContainers, "init or ephemeral containers (they could carry privileges)");
	return p.containers[0];
};

await check("privileged variant: privileged, hostPID, read-only root", () => {
	const d = ds("base");
	const sc = container(d).securityContext;
	eq(sc.privileged, true, "privileged");
	eq(sc.readOnlyRootFilesystem, true, "readOnlyRootFilesystem");
	eq(podSpec(d).hostPID, true, "hostPID");
});

await check("minimal variant: not privileged, no escalation, read-only root, drop ALL, add exactly the allowed set", () => {
	const d = ds("minimal");
	const sc = container(d).securityContext;
	eq(sc.privileged, false, "privileged");
	eq(sc.allowPrivilegeEscalation, false, "allowPrivilegeEscalation");
	eq(sc.readOnlyRootFilesystem, true, "readOnlyRootFilesystem");
	eq(sc.capabilities?.drop, ["ALL"], "capabilities.drop");
	const add = sc.capabilities?.add ?? [];
	eq(add.length, new Set(add).size, "duplicate capabilities");
	eq([...add].sort(), [...MINIMAL_CAPS].sort(), "capabilities.add");
	assert(!("procMount" in sc) || sc.procMount === "Default", "procMount Unmasked");
	eq(podSpec(d).hostPID, true, "hostPID");
});

await check("both variants: no hostNetwork, no hostIPC, no pod-level privileges", () => {
	for (const name of ["base", "minimal"]) {
		const p = podSpec(ds(name));
		assert(!p.hostNetwork, `${name}: hostNetwork`);
		assert(!p.hostIPC, `${name}: hostIPC`);
		const psc = p.securityContext ?? {};
		assert(!psc.sysctls && !psc.supplementalGroups, `${name}: pod securityContext ${JSON.stringify(psc)}`);
	}
});

await check("the variants differ only in the container's securityContext", () => {
	const strip = (name) => rendered[name].map((o) => {
		const c = structuredClone(o);
		if (c.kind === "DaemonSet") delete c.spec.template.spec.containers[0].securityContext;
		return c;
	});
	eq(strip("minimal"), strip("base"), "objects without the container securityContext");
});

await check("DaemonSet: every node, NODE_NAME, args, port, probes, resources", () => {
	const d = ds("base");
	const p = podSpec(d);
	const c = container(d);
	eq(p.tolerations, [{ operator: "Exists" }], "tolerations");
	eq(c.args, [`--web.listen-address=:${PORT}`], "args");
	eq(c.env?.find((e) => e.name === "NODE_NAME")?.valueFrom, { fieldRef: { fieldPath: "spec.nodeName" } }, "NODE_NAME");
	eq(c.ports, [{ name: "metrics", containerPort: PORT, protocol: "TCP" }], "ports");
	eq([c.livenessProbe?.httpGet?.path, c.livenessProbe?.httpGet?.port], ["/healthz", "metrics"], "liveness probe");
	eq([c.readinessProbe?.httpGet?.path, c.readinessProbe?.httpGet?.port], ["/readyz", "metrics"], "readiness probe");
	eq(c.resources, { requests: { cpu: "50m", memory: "64Mi" }, limits: { cpu: "500m", memory: "256Mi" } }, "resources");
	eq(c.image.includes(":") && !c.image.endsWith(":latest"), true, "image has a fixed tag");
});

await check("DaemonSet: exactly the kernel filesystems, as hostPaths, read-only where they should be", () => {
	const p = podSpec(ds("base"));
	const c = container(ds("base"));
	const vols = Object.fromEntries(p.volumes.map((v) => [v.name, v]));
	const mounts = {};
	for (const m of c.volumeMounts) {
		const v = vols[m.name];
		assert(v?.hostPath, `${m.mountPath}: volume ${m.name} is not a hostPath`);
		eq(v.hostPath.path, m.mountPath, `host path of ${m.mountPath}`);
		assert(!m.mountPropagation || m.mountPropagation === "None", `${m.mountPath}: propagation ${m.mountPropagation}`);
		mounts[m.mountPath] = m.readOnly === true;
	}
	eq(mounts, HOST_MOUNTS, "mounts (path: read-only)");
	eq(p.volumes.length, c.volumeMounts.length, "volumes without a mount");
});

// ---- RBAC, Service, Namespace, ServiceMonitor ---------------------------------------------
const one = (kind, list = rendered.base) => {
	const l = (list ?? []).filter((o) => o.kind === kind);
	assert(l.length === 1, `${l.length} ${kind}`);
	return l[0];
};

await check("RBAC: get/list/watch on pods and nothing more, bound to the agent's ServiceAccount", () => {
	const sa = one("ServiceAccount");
	const role = one("ClusterRole");
	const binding = one("ClusterRoleBinding");
	assert(!rendered.base.some((o) => o.kind === "Role" || o.kind === "RoleBinding"), "extra Role/RoleBinding");
	eq(role.rules, [{ apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] }], "rules");
	assert(!role.aggregationRule, "aggregationRule");
	eq(binding.roleRef, { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: role.metadata.name }, "roleRef");
	eq(binding.subjects, [{ kind: "ServiceAccount", name: sa.metadata.name, namespace: sa.metadata.namespace }], "subjects");
	eq(podSpec(ds("base")).serviceAccountName, sa.metadata.name, "serviceAccountName");
});

await check("Namespace reqlens holds every namespaced object, and admits privileged pods", () => {
	const ns = one("Namespace");
	eq(ns.metadata.name, "reqlens", "namespace name");
	eq(ns.metadata.labels?.["pod-security.kubernetes.io/enforce"], "privileged", "pod-security enforce label");
	for (const o of rendered.base)
		if (!["Namespace", "ClusterRole", "ClusterRoleBinding"].includes(o.kind))
			eq(o.metadata.namespace, "reqlens", `namespace of ${key(o)}`);
});

await check("Service: headless, port metrics 10470, selects the agent's pods", () => {
	const svc = one("Service");
	const d = ds("base");
	eq(svc.spec.clusterIP, "None", "clusterIP");
	eq(svc.spec.ports.map((p) => [p.name, p.port, p.targetPort]), [["metrics", PORT, "metrics"]], "ports");
	for (const [k, v] of Object.entries(svc.spec.selector))
		eq(d.spec.template.metadata.labels[k], v, `pod label ${k}`);
	eq(d.spec.selector.matchLabels, svc.spec.selector, "DaemonSet selector");
});

await check("ServiceMonitor: selects the Service, scrapes its metrics port", () => {
	const f = path.join(k8sDir, "servicemonitor.yaml");
	const sm = one("ServiceMonitor", docs[f]);
	const svc = one("Service");
	eq(sm.metadata.namespace, svc.metadata.namespace, "namespace");
	assert(sm.spec.namespaceSelector?.matchNames?.includes(svc.metadata.namespace), "namespaceSelector");
	for (const [k, v] of Object.entries(sm.spec.selector.matchLabels))
		eq(svc.metadata.labels[k], v, `Service label ${k}`);
	eq(sm.spec.endpoints.map((e) => e.port), ["metrics"], "endpoint ports");
});

// ---- Prometheus scrape config --------------------------------------------------------------
await check("scrape.yml: a kubernetes_sd pod job that keeps exactly the agent's metrics port, and a static job", () => {
	const cfg = YAML.parse(fs.readFileSync(path.join(repo, "deploy/prometheus/scrape.yml"), "utf8"));
	const k8s = cfg.scrape_configs.find((j) => j.kubernetes_sd_configs);
	assert(k8s, "no kubernetes_sd_configs job");
	eq(k8s.kubernetes_sd_configs.map((s) => s.role), ["pod"], "roles");
	const d = ds("base");
	// What Prometheus would see for the agent's container port, and for a port it must drop.
	const meta = (portName) => ({
		__meta_kubernetes_pod_label_app_kubernetes_io_name: d.spec.template.metadata.labels["app.kubernetes.io/name"],
		__meta_kubernetes_pod_container_port_name: portName,
		__meta_kubernetes_namespace: d.metadata.namespace,
	});
	const kept = (labels) => k8s.relabel_configs.filter((r) => r.action === "keep").every((r) => {
		const value = r.source_labels.map((l) => labels[l] ?? "").join(r.separator ?? ";");
		return new RegExp(`^(?:${r.regex})$`).test(value);
	});
	eq(kept(meta(container(d).ports[0].name)), true, "the agent's metrics port kept");
	eq(kept(meta("other")), false, "another port kept");
	eq(kept({ ...meta("metrics"), __meta_kubernetes_pod_label_app_kubernetes_io_name: "nginx" }), false, "another app kept");
	const st = cfg.scrape_configs.find((j) => j.static_configs);
	assert(st && st.static_configs[0].targets.every((t) => /^[^:]+:\d+$/.test(t)), "no static job with host:port targets");
});

console.log(`validate: ${failed} failed`);
process.exit(failed ? 1 : 0);
