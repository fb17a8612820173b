// The hardened systemd unit of both executables, rendered from one template so the unit
// `service install` writes and the files under deploy/systemd/ cannot drift apart.

export interface ServiceProfile {
  /** Unit, user and state directory name: `spokes`, `pktriot`. */
  name: string;
  description: string;
  /** The foreground subcommand the service runs (`serve`, `start`). */
  command: string;
  /** Where the configuration lives when `--config` is not given. */
  defaultConfigPath: string;
}

export interface UnitOptions {
  /** Absolute path of the executable (the running one for `service install`). */
  execPath: string;
  /** Absolute path of the configuration file, passed with `--config`. */
  configPath: string;
  /** The dedicated system user the service runs as. */
  user: string;
  /** The first comment line: who wrote the file. */
  origin: string;
}

/** systemd splits ExecStart= on spaces and expands `%` and `$`: quote and escape each argument. */
export function quoteExecArg(arg: string): string {
  const escaped = arg.replace(/%/g, "%%").replace(/\$/g, "$$$$");
  return /[\s"'\\;]/.test(escaped) ? `"${escaped.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"` : escaped;
}

export function renderSystemdUnit(profile: ServiceProfile, opts: UnitOptions): string {
  const configDir = opts.configPath.slice(0, opts.configPath.lastIndexOf("/")) || "/";
  const exec = [opts.execPath, profile.command, "--config", opts.configPath].map(quoteExecArg).join(" ");
  return `# ${opts.origin}
# Local changes: \`systemctl edit ${profile.name}\` (a drop-in survives reinstalls).
[Unit]
Description=${profile.description}
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=${opts.user}
Group=${opts.user}
ExecStart=${exec}
Restart=always
RestartSec=2s
TimeoutStopSec=30s
# /var/lib/${profile.name}, owned by the service user; the configuration directory stays
# writable because settings changed at run time are written back to the file.
StateDirectory=${profile.name}
StateDirectoryMode=0750
ReadWritePaths=${quoteExecArg(configDir)}
Environment=HOME=/var/lib/${profile.name}
WorkingDirectory=/var/lib/${profile.name}
UMask=0027
LimitNOFILE=1048576
# Ports 80 and 443 without root; no other privilege.
AmbientCapabilities=CAP_NET_BIND_SERVICE
CapabilityBoundingSet=CAP_NET_BIND_SERVICE
NoNewPrivileges=yes
ProtectSystem=strict
ProtectHome=yes
PrivateMounts=yes
# The libsql addon is unpacked into $TMPDIR and loaded from there: the private /tmp must
# allow executables, so no NoExecPaths=/tmp. Bun's JIT needs writable+executable memory,
# so no MemoryDenyWriteExecute= either.
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
ProtectProc=invisible
RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX AF_NETLINK
RestrictNamespaces=yes
RestrictRealtime=yes
RestrictSUIDSGID=yes
LockPersonality=yes
RemoveIPC=yes
SystemCallArchitectures=native

[Install]
WantedBy=multi-user.target
`;
}

/** sysusers.d(5) entry creating the service user, for packages that ship the unit file. */
export function renderSysusers(profile: ServiceProfile): string {
  return `# ${profile.description}: the system user its unit runs as.\nu ${profile.name} - "${profile.description}" /var/lib/${profile.name} /usr/sbin/nologin\n`;
}

/** tmpfiles.d(5) entry creating the configuration directory the unit keeps writable (ReadWritePaths=). */
export function renderTmpfiles(profile: ServiceProfile): string {
  const dir = profile.defaultConfigPath.slice(0, profile.defaultConfigPath.lastIndexOf("/"));
  return `# ${profile.description}: configuration directory, writable by the service user.\nd ${dir} 0750 ${profile.name} ${profile.name} -\n`;
}
