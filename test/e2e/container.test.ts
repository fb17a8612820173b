// deploy/Dockerfile and deploy/compose.yaml. Where a container engine answers (`docker
// info`), the image is built and run. Everywhere else (this machine has only the docker
// client) the files are parsed with real parsers (dockerfile-ast, yaml) and checked against
// the server's own defaults, and dist/spokes is run the way the image runs it: its
// ENTRYPOINT + CMD, its ENV plus DOMAIN/ADMIN_SECRET, as its USER, from its WORKDIR, with
// temp dirs bind-mounted on its VOLUMEs and the executable on the COPY destination, in a
// private mount + network namespace where ports 80 and 443 are free (as in a container).
import { afterAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { DockerfileParser, type Instruction } from "dockerfile-ast";
import { chownSync, chmodSync, existsSync, mkdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { parse as parseYaml } from "yaml";
import { DEFAULT_CONFIG_PATH, defaultServerConfig } from "../../lib/config/server-config.ts";
import pkg from "../../package.json" with { type: "json" };
import { ROOT, SPOKES_BIN, freePort, run, tempDir } from "../helpers.ts";
import { canUnshare, namespaceCommand } from "./_namespace.ts";
import { spawnLogged, stopAll } from "./_tunnel-harness.ts";

setDefaultTimeout(60_000);
afterAll(stopAll);

const DOCKERFILE = join(ROOT, "deploy", "Dockerfile");
const COMPOSE = join(ROOT, "deploy", "compose.yaml");
const defaults = defaultServerConfig();
const RANGE = `${defaults.portRange.begin}-${defaults.portRange.end}`;

interface ImageSpec {
  stages: { image: string; name: string | null; instructions: Instruction[] }[];
  user: string;
  workdir: string;
  env: Record<string, string>;
  volumes: string[];
  expose: string[];
  /** ENTRYPOINT followed by CMD (exec form). */
  argv: string[];
  /** The final stage's COPY --from: [stage, source, destination]. */
  copies: [string, string, string][];
}

function jsonArgs(i: Instruction | undefined): string[] {
  const strings = (i as unknown as { getJSONStrings?: () => { getJSONValue(): string }[] })?.getJSONStrings?.() ?? [];
  return strings.map((s) => s.getJSONValue());
}

function readImageSpec(): ImageSpec {
  const df = DockerfileParser.parse(readFileSync(DOCKERFILE, "utf8"));
  const stages: ImageSpec["stages"] = [];
  for (const i of df.getInstructions()) {
    if (i.getKeyword() === "FROM") {
      const from = df.getFROMs()[stages.length]!;
      stages.push({ image: `${from.getImageName()}:${from.getImageTag()}`, name: from.getBuildStage(), instructions: [] });
    } else stages.at(-1)!.instructions.push(i);
  }
  const final = stages.at(-1)!.instructions;
  const last = (kw: string) => final.filter((i) => i.getKeyword() === kw).at(-1);
  const env: Record<string, string> = {};
  for (const i of final.filter((i) => i.getKeyword() === "ENV")) {
    for (const p of (i as unknown as { getProperties(): { getName(): string; getValue(): string }[] }).getProperties()) env[p.getName()] = p.getValue();
  }
  const copies = final
    .filter((i) => i.getKeyword() === "COPY")
    .map((i) => {
      const from = (i as unknown as { getFlags(): { getName(): string; getValue(): string }[] }).getFlags().find((f) => f.getName() === "from")?.getValue() ?? "";
      const args = i.getArguments().map((a) => a.getValue());
      return [from, args[0]!, args[1]!] as [string, string, string];
    });
  return {
    stages,
    user: last("USER")?.getArgumentsContent() ?? "root",
    workdir: last("WORKDIR")?.getArgumentsContent() ?? "/",
    env,
    volumes: final.filter((i) => i.getKeyword() === "VOLUME").flatMap((i) => jsonArgs(i)),
    expose: final.filter((i) => i.getKeyword() === "EXPOSE").flatMap((i) => i.getArguments().map((a) => a.getValue())),
    argv: [...jsonArgs(last("ENTRYPOINT")), ...jsonArgs(last("CMD"))],
    copies,
  };
}

const spec = readImageSpec();

describe("deploy/Dockerfile", () => {
  test("builds in a first stage with the bun pinned in package.json", () => {
    expect(spec.stages).toHaveLength(2);
    const build = spec.stages[0]!;
    expect(build.name).toBe("build");
    const runs = build.instructions.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "");
    // npm ci installs exactly the lockfile's bun (an exact version, no range).
    expect(runs[0]).toStartWith("npm ci");
    expect(runs.at(-1)).toBe("node_modules/.bin/bun scripts/build.ts");
    expect(pkg.devDependencies.bun).toMatch(/^\d+\.\d+\.\d+$/);
    const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8"));
    expect(lock.packages["node_modules/bun"].version).toBe(pkg.devDependencies.bun);
    expect(runs.join("\n")).not.toMatch(/curl|wget|bun\.sh|oven\/bun/);
  });

  test("runs the single spokes executable on slim Debian as a non-root user, with the server's own paths and ports", () => {
    expect(spec.stages[1]!.image).toMatch(/^debian:[a-z]+-slim$/);
    expect(spec.copies).toEqual([["build", "/src/dist/spokes", "/usr/local/bin/spokes"]]);
    const [uid, gid] = spec.user.split(":").map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    // The RUN that creates that user also hands it the volume directories.
    const setup = spec.stages[1]!.instructions.filter((i) => i.getKeyword() === "RUN").map((i) => i.getArgumentsContent() ?? "").join(" ");
    expect(setup).toContain(`useradd --system --uid ${uid} --gid ${gid}`);
    expect(setup).toContain(`chown ${uid}:${gid} /etc/spokes /var/lib/spokes`);
    expect(spec.volumes).toEqual(["/etc/spokes", defaults.dataPath]);
    expect(DEFAULT_CONFIG_PATH).toBe("/etc/spokes/config.json");
    expect(spec.argv).toEqual(["/usr/local/bin/spokes", "serve", "--config", DEFAULT_CONFIG_PATH]);
    expect(spec.env).toEqual({ SPOKES_CONFIG: DEFAULT_CONFIG_PATH });
    expect(spec.expose).toEqual([String(defaults.listen.http), String(defaults.listen.https), RANGE]);
  });

  test("its .dockerignore keeps node_modules, dist and databases out of the build context", () => {
    const ignore = readFileSync(`${DOCKERFILE}.dockerignore`, "utf8").split("\n").map((l) => l.trim());
    for (const entry of ["node_modules", "dist", ".git", "*.db"]) expect(ignore).toContain(entry);
  });
});

describe("deploy/compose.yaml", () => {
  const compose = parseYaml(readFileSync(COMPOSE, "utf8")) as {
    services: Record<string, { build: { context: string; dockerfile: string }; environment: Record<string, string>; ports: string[]; volumes: string[]; sysctls: Record<string, number> }>;
    volumes: Record<string, unknown>;
  };
  const svc = compose.services.spokes!;

  test("builds deploy/Dockerfile from the repository root, with DOMAIN/ADMIN_SECRET, both volumes and every port", () => {
    expect(svc.build).toEqual({ context: "..", dockerfile: "deploy/Dockerfile" });
    expect(Object.keys(svc.environment).sort()).toEqual(["ADMIN_SECRET", "DOMAIN"]);
    // Required: compose refuses to start without them (${VAR:?message}).
    for (const [k, v] of Object.entries(svc.environment)) expect(v).toMatch(new RegExp(`^\\$\\{${k}:\\?.+\\}$`));
    expect(svc.ports).toEqual(["80:80", "443:443", `${RANGE}:${RANGE}`]);
    const mounts = svc.volumes.map((v) => v.split(":"));
    expect(mounts.map((m) => m[1]).sort()).toEqual([...spec.volumes].sort());
    for (const [name] of mounts) expect(compose.volumes).toHaveProperty(name!);
    expect(svc.sysctls["net.ipv4.ip_unprivileged_port_start"]).toBe(0);
  });

  const composeCli = Bun.spawnSync(["docker", "compose", "version"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;
  test.skipIf(!composeCli)("docker compose config accepts it", () => {
    const r = Bun.spawnSync(["docker", "compose", "-f", COMPOSE, "config", "--quiet"], { env: { ...process.env, DOMAIN: "tunnels.test", ADMIN_SECRET: "s" }, stderr: "pipe" });
    expect(r.stderr.toString()).toBe("");
    expect(r.exitCode).toBe(0);
  });
});

/** curl inside the namespace's network, resolving the domain to its loopback. */
function curlIn(pid: number, domain: string, url: string): { code: number; body: string } {
  const r = Bun.spawnSync(["nsenter", `--net=/proc/${pid}/ns/net`, "curl", "-sS", "-k", "--max-time", "10", "--resolve", `${domain}:443:127.0.0.1`, "--resolve", `${domain}:80:127.0.0.1`, "-w", "\n%{http_code}", url], { stdout: "pipe", stderr: "pipe" });
  const out = r.stdout.toString();
  const cut = out.lastIndexOf("\n");
  return { code: Number(out.slice(cut + 1)), body: out.slice(0, cut) };
}

test.skipIf(!canUnshare)("dist/spokes run as the image runs it: first start from DOMAIN/ADMIN_SECRET, state in the volumes, HTTPS on 443", async () => {
  const root = tempDir("spokes-image-");
  const [uid, gid] = spec.user.split(":").map(Number) as [number, number];
  const [binDest] = spec.copies.map((c) => c[2]);
  // The named volumes: empty directories owned by the image's user (Docker copies the image's ownership in).
  const volumes = spec.volumes.map((v) => ({ target: v, source: join(root, `volume${v.replace(/\//g, "-")}`) }));
  for (const v of volumes) {
    mkdirSync(v.source);
    chownSync(v.source, uid, gid);
    chmodSync(v.source, 0o750);
  }
  const domain = "tunnels.test";
  const secret = "first-run-secret";
  const setup = [
    // Docker's default in a container's network namespace: unprivileged users bind any port.
    "echo 0 > /proc/sys/net/ipv4/ip_unprivileged_port_start",
    `mkdir -p ${volumes.map((v) => v.target).join(" ")}`,
    ...volumes.map((v) => `mount --bind ${v.source} ${v.target}`),
    `mkdir -p $(dirname ${binDest}) && touch ${binDest} && mount --bind ${SPOKES_BIN} ${binDest}`,
    `cd ${spec.workdir}`,
  ].join("\n");
  const imageEnv = { PATH: "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME: spec.workdir, ...spec.env, DOMAIN: domain, ADMIN_SECRET: secret };
  const asImageUser = ["setpriv", `--reuid=${uid}`, `--regid=${gid}`, "--clear-groups", "env", "-i", ...Object.entries(imageEnv).map(([k, v]) => `${k}=${v}`)];
  const cmd = namespaceCommand({ root, overlays: ["/etc", "/var/lib", "/usr/local"], net: true, setup }, [...asImageUser, ...spec.argv]);
  const { proc, log } = spawnLogged(cmd);
  await log.waitFor(`serving ${domain}: http 0.0.0.0:80, https 0.0.0.0:443 (tls: selfSigned)`, { proc, timeoutMs: 30_000 });

  const login = curlIn(proc.pid, domain, `https://${domain}/login`);
  expect(login.code).toBe(200);
  expect(login.body).toContain('<a href="/setup">Configure</a>');
  const configure = curlIn(proc.pid, domain, `https://${domain}/setup`);
  expect(configure.code).toBe(200);
  expect(configure.body).toContain("Configure Spokes");
  expect(curlIn(proc.pid, domain, `http://${domain}/`).code).toBeGreaterThan(0);

  // The admin CLI as `docker exec` runs it: same namespaces, user and environment, no --config.
  const exec = Bun.spawnSync(["nsenter", `--mount=/proc/${proc.pid}/ns/mnt`, `--net=/proc/${proc.pid}/ns/net`, "env", "-C", spec.workdir, ...asImageUser, binDest!, "users", "ls"], { stdout: "pipe", stderr: "pipe" });
  expect(exec.stderr.toString()).toBe("");
  expect(exec.stdout.toString()).toContain("0 users");

  // First run wrote the configuration into the config volume and the database into the data volume, as the image user.
  const [configVolume, dataVolume] = volumes.map((v) => v.source) as [string, string];
  const written = JSON.parse(readFileSync(join(configVolume, "config.json"), "utf8"));
  expect(written.domain).toBe(domain);
  expect(written.dataPath).toBe(defaults.dataPath);
  expect(statSync(join(configVolume, "config.json")).uid).toBe(uid);
  expect(existsSync(join(dataVolume, "spokes.db"))).toBe(true);
  expect(statSync(join(dataVolume, "spokes.db")).uid).toBe(uid);
});

const dockerEngine = Bun.spawnSync(["docker", "info"], { stdout: "ignore", stderr: "ignore" }).exitCode === 0;

test.skipIf(!dockerEngine)("the image builds and serves the first-run Configure page", async () => {
  const tag = `spokes-test:${process.pid}`;
  const build = Bun.spawnSync(["docker", "build", "-f", DOCKERFILE, "-t", tag, ROOT], { stdout: "pipe", stderr: "pipe", timeout: 900_000 });
  expect(build.exitCode).toBe(0);
  const port = await freePort();
  const name = `spokes-test-${process.pid}`;
  const started = run("docker", ["run", "-d", "--rm", "--name", name, "-e", "DOMAIN=tunnels.test", "-e", "ADMIN_SECRET=s", "-p", `127.0.0.1:${port}:443`, tag]);
  expect(started.code).toBe(0);
  try {
    const { waitFor } = await import("../helpers.ts");
    const body = await waitFor(() => {
      const r = Bun.spawnSync(["curl", "-sS", "-k", "--resolve", `tunnels.test:${port}:127.0.0.1`, `https://tunnels.test:${port}/login`], { stdout: "pipe" });
      return r.exitCode === 0 ? r.stdout.toString() : null;
    }, "the container's HTTPS port", 60_000, 250);
    expect(body).toContain('<a href="/setup">Configure</a>');
    expect(run("docker", ["exec", name, "id", "-u"]).stdout.trim()).toBe(spec.user.split(":")[0]!);
  } finally {
    run("docker", ["rm", "-f", name]);
    run("docker", ["rmi", "-f", tag]);
  }
}, 900_000);
