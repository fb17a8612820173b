// `npm start`: builds the executables and runs a real server with zero edits: a local
// configuration under .spokes/ (unprivileged ports, embedded database, self-signed
// certificate for spokes.localhost and *.spokes.localhost, which resolve to 127.0.0.1).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";

const root = resolve(import.meta.dir, "..");
const dir = join(root, ".spokes");
const configPath = join(dir, "config.json");
const domain = process.env.DOMAIN || "spokes.localhost";
const http = Number(process.env.HTTP_PORT || 8080);
const https = Number(process.env.HTTPS_PORT || 8443);

if (!existsSync(configPath)) {
  mkdirSync(dir, { recursive: true });
  const config = {
    domain,
    dataPath: dir,
    database: { path: join(dir, "spokes.db"), url: "", authToken: "" },
    portRange: { begin: 22000, end: 22099 },
    tunOptions: { maxPoolSize: 5, maxPorts: 5, autoHostnames: true },
    tls: { useLE: false, certificate: "", privateKey: "", selfSigned: true },
    listen: { address: "127.0.0.1", http, https },
    socks: { enabled: true, port: 0, tlsPort: 0, allow: [], auth: "token" },
    monitor: { enabled: true, intervalSeconds: 60 },
  };
  writeFileSync(configPath, `${JSON.stringify(config, null, 2)}\n`);
}

const build = Bun.spawnSync(["bun", join(root, "scripts", "build.ts")], { stdout: "inherit", stderr: "inherit" });
if (build.exitCode !== 0) process.exit(build.exitCode ?? 1);

const rel = (p: string) => p.replace(`${root}/`, "./");
const spokes = `${rel(join(root, "dist", "spokes"))} --config ${rel(configPath)}`;
const pktriot = `${rel(join(root, "dist", "pktriot"))} --config ./.pktriot.json`;
console.log(`
Spokes is starting for ${domain}: http://${domain}:${http}  https://${domain}:${https}
Configuration: ${rel(configPath)} (database and self-signed certificate in ${rel(dir)}/)

Connect a client and expose a local web server (e.g. python3 -m http.server 3000), in another terminal:
  ${spokes} registration create
  ${pktriot} unmanaged configure --hostname ${domain}:${https} --registration <token printed above> --ca ${rel(join(dir, "tls", "self-signed.crt"))}
  ${pktriot} tunnel http add --domain app.${domain} --http 3000
  ${pktriot} start
  curl --cacert ${rel(join(dir, "tls", "self-signed.crt"))} https://app.${domain}:${https}/

Expose a TCP port instead:
  ${pktriot} tunnel tcp allocate          # prints the public port, e.g. 22042
  ${pktriot} tunnel tcp forward --port 22042 --destination 127.0.0.1 --dstport 22
`);

const proc = Bun.spawn([join(root, "dist", "spokes"), "serve", "--config", configPath], { stdout: "inherit", stderr: "inherit", stdin: "ignore" });
for (const sig of ["SIGINT", "SIGTERM"] as const) process.on(sig, () => proc.kill(sig));
process.exit(await proc.exited);
