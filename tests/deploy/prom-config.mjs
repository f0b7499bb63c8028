// Writes, from deploy/prometheus/scrape.yml, the configuration the Prometheus test runs:
// its static jobs with their targets replaced by TARGET, scraped every second.
// (Debian's Prometheus is built without Kubernetes service discovery, so the
// kubernetes_sd_configs job is left out; validate.mjs checks its relabelling instead.)
//   node prom-config.mjs TARGET > prometheus.yml
//   node prom-config.mjs --job       prints the name of the (first) static job
import fs from "node:fs";
import path from "node:path";
import YAML from "yaml";
import { repo } from "./lib.mjs";

const target = process.argv[2];
const cfg = YAML.parse(fs.readFileSync(path.join(repo, "deploy/prometheus/scrape.yml"), "utf8"));
cfg.global = { ...cfg.global, scrape_interval: "1s", scrape_timeout: "1s", evaluation_interval: "1s" };
cfg.scrape_configs = cfg.scrape_configs.filter((j) => j.static_configs).map((j) => ({
	...j,
	static_configs: j.static_configs.map((s) => ({ ...s, targets: [target] })),
}));
if (!cfg.scrape_configs.length) { console.error("prom-config: scrape.yml has no static job"); process.exit(1); }
if (target === "--job") console.log(cfg.scrape_configs[0].job_name);
else process.stdout.write(YAML.stringify(cfg));
