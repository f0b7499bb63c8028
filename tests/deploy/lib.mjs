// Shared by validate.mjs and oci-config.mjs: YAML loading, the kustomize subset the
// manifests use, the kubernetes-models class of any object, and a strict unknown-field
// check that kubernetes-models' validate() does not do (its schemas allow extra fields,
// so a misspelt `readOnlyRootFileSystem` would pass it and be dropped by the API server).
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import YAML from "yaml";
import jsonpatch from "fast-json-patch";

export const here = path.dirname(fileURLToPath(import.meta.url));
// REQLENS_DEPLOY_ROOT: a copy of the repository to check instead (run.sh mutates one).
export const repo = path.resolve(process.env.REQLENS_DEPLOY_ROOT ?? path.resolve(here, "../.."));
export const k8sDir = path.join(repo, "deploy/kubernetes");

export function loadDocs(file) {
	const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"));
	for (const d of docs)
		if (d.errors.length) throw new Error(`${file}: ${d.errors[0].message}`);
	return docs.map((d) => d.toJS()).filter((o) => o != null);
}

// ---- kustomize, the part these manifests use -------------------------------------------
// resources: files or directories holding a kustomization.yaml; patches: RFC 6902 JSON
// patches given by path, with a target by group/version/kind/name. Anything else in a
// kustomization is refused rather than silently ignored, so that this renderer never
// disagrees with kustomize without saying so.
const KUSTOMIZATION_FIELDS = new Set(["apiVersion", "kind", "resources", "patches"]);
const PATCH_FIELDS = new Set(["path", "target"]);
const TARGET_FIELDS = new Set(["group", "version", "kind", "name", "namespace"]);

export function kustomization(dir) {
	const [k] = loadDocs(path.join(dir, "kustomization.yaml"));
	if (k.apiVersion !== "kustomize.config.k8s.io/v1beta1" || k.kind !== "Kustomization")
		throw new Error(`${dir}/kustomization.yaml: not a kustomize.config.k8s.io/v1beta1 Kustomization`);
	for (const f of Object.keys(k))
		if (!KUSTOMIZATION_FIELDS.has(f))
			throw new Error(`${dir}/kustomization.yaml: field ${f} is not implemented by tests/deploy/lib.mjs`);
	return k;
}

function groupVersion(obj) {
	const [g, v] = obj.apiVersion.includes("/") ? obj.apiVersion.split("/") : ["", obj.apiVersion];
	return { group: g, version: v };
}

export function render(dir) {
	const k = kustomization(dir);
	let objs = [];
	for (const r of k.resources ?? []) {
		const p = path.resolve(dir, r);
		objs.push(...(fs.statSync(p).isDirectory() ? render(p) : loadDocs(p)));
	}
	objs = structuredClone(objs);
	for (const p of k.patches ?? []) {
		for (const f of Object.keys(p))
			if (!PATCH_FIELDS.has(f)) throw new Error(`${dir}: patch field ${f} is not implemented`);
		for (const f of Object.keys(p.target ?? {}))
			if (!TARGET_FIELDS.has(f)) throw new Error(`${dir}: patch target field ${f} is not implemented`);
		const ops = loadDocs(path.resolve(dir, p.path))[0];
		if (!Array.isArray(ops)) throw new Error(`${p.path}: only RFC 6902 (list) patches are implemented`);
		const t = p.target;
		const hits = objs.filter((o) => {
			const gv = groupVersion(o);
			return (t.group === undefined || t.group === gv.group) &&
				(t.version === undefined || t.version === gv.version) &&
				(t.kind === undefined || t.kind === o.kind) &&
				(t.name === undefined || t.name === o.metadata?.name) &&
				(t.namespace === undefined || t.namespace === o.metadata?.namespace);
		});
		if (hits.length === 0) throw new Error(`${dir}: patch ${p.path} matches no resource`);
		for (const o of hits) {
			const err = jsonpatch.validate(ops, o);
			if (err) throw new Error(`${dir}: patch ${p.path}: ${err.message}`);
			jsonpatch.applyPatch(o, ops, true, true);
		}
	}
	return objs;
}

export const key = (o) => `${o.kind}/${o.metadata?.namespace ?? ""}/${o.metadata?.name}`;

// ---- kubernetes-models ------------------------------------------------------------------
function modelModule(obj) {
	const { group, version } = groupVersion(obj);
	if (group === "monitoring.coreos.com")
		return `@kubernetes-models/prometheus-operator/${group}/${version}/${obj.kind}`;
	return group ? `kubernetes-models/${group}/${version}/${obj.kind}` : `kubernetes-models/${version}/${obj.kind}`;
}

export async function modelClass(obj) {
	const mod = await import(modelModule(obj));
	const cls = mod[obj.kind];
	if (!cls) throw new Error(`no kubernetes-models class for ${obj.apiVersion} ${obj.kind}`);
	return cls;
}

// ---- strict fields, from the TypeScript declarations kubernetes-models ships ----------
// Each model's .d.ts has one `export interface` whose properties are the API fields, with
// their types named by import. Walking them alongside an object finds any field the API
// does not define.
const ifaceCache = new Map();

function dtsPath(spec, fromFile) {
	if (spec.startsWith(".")) return path.resolve(path.dirname(fromFile), spec.replace(/\.js$/, ".d.ts"));
	// The packages export ESM only ("import" condition): resolve as an import would.
	const js = fileURLToPath(import.meta.resolve(spec.replace(/\.js$/, "")));
	return js.replace(/\.js$/, ".d.ts");
}

function parseInterface(file) {
	if (ifaceCache.has(file)) return ifaceCache.get(file);
	const text = fs.readFileSync(file, "utf8").replace(/\/\*[\s\S]*?\*\//g, "");
	const imports = {};
	for (const m of text.matchAll(/import \{ ([^}]+) \} from "([^"]+)";/g))
		for (const name of m[1].split(",").map((s) => s.trim()))
			imports[name] = m[2];
	const m = text.match(/export interface \w+(?: extends ([\w, ]+))? \{\n([\s\S]*?)\n\}/);
	let result = null;
	if (m) {
		const props = {};
		if ((m[1] ?? "").includes("TypeMeta")) props.apiVersion = props.kind = { leaf: true };
		const lines = m[2].split("\n");
		for (let i = 0; i < lines.length; i++) {
			const p = lines[i].match(/^ {4}"([^"]+)"\??: (.*)$/);
			if (!p) continue;
			let type = p[2];
			let map = false;
			if (type === "{") { // { [key: string]: T; }
				map = true;
				type = lines[i + 1].trim().replace(/^\[key: string\]: /, "");
			}
			type = type.replace(/;$/, "");
			let array = false;
			const a = type.match(/^Array<(.*)>$/);
			if (a) { array = true; type = a[1]; }
			const ref = /^I\w+$/.test(type) && imports[type] ? dtsPath(imports[type], file) : null;
			props[p[1]] = { map, array, ref };
		}
		result = { props, file };
	}
	ifaceCache.set(file, result);
	return result;
}

// Returns the paths of fields unknown to the API type declared in dtsFile.
function unknownFields(value, dtsFile, at, out) {
	if (value === null || typeof value !== "object") return out;
	const iface = parseInterface(dtsFile);
	if (!iface) return out; // a type alias (IntOrString, Quantity, ...): a leaf
	if (Array.isArray(value)) return out;
	for (const [k, v] of Object.entries(value)) {
		const p = iface.props[k];
		if (!p) { out.push(`${at}.${k}`); continue; }
		if (!p.ref) continue;
		const each = (x, where) => p.map
			? Object.entries(x ?? {}).forEach(([mk, mv]) => unknownFields(mv, p.ref, `${where}.${mk}`, out))
			: unknownFields(x, p.ref, where, out);
		if (p.array && Array.isArray(v)) v.forEach((x, i) => each(x, `${at}.${k}[${i}]`));
		else each(v, `${at}.${k}`);
	}
	return out;
}

export function strictFields(obj) {
	const file = dtsPath(modelModule(obj), path.join(here, "x"));
	return unknownFields(obj, file, obj.kind, []);
}
