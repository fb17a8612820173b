// The pktriot client configuration (SPEC 3.1): types, load/validate/save, where the file
// lives, rule edits, and live reload for the running client.
export * from "./types.ts";
export { validateClientConfig } from "./validate.ts";
export { loadClientConfig, loadClientConfigIfExists, parseClientConfig, saveClientConfig, serializeClientConfig, updateClientConfig } from "./file.ts";
export { chooseClientConfigPath, clientConfigCandidates, clientDataDir, findClientConfigPath, type ChoosePathOptions, type ConfigPathSources } from "./paths.ts";
export { watchClientConfig, type ConfigWatcher, type WatchOptions } from "./watch.ts";
export * from "./rules.ts";
export { isDestination, isRuleDomain, normalizeNetwork } from "./names.ts";
export { checkRuleCertificate, checkRuleCertificatePem, type RuleCertificateInfo } from "./rule-certificate.ts";
export { MESH_ALLOW_SYNTAX, meshAccessOf, parseMeshAllow, splitMeshAllow, type MeshAccessTable, type ServiceAccess } from "./mesh-access.ts";
