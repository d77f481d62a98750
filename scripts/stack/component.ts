/** One part of the local stack (PostgreSQL, Kafka, the schema registry) as the stack CLI drives it. */
export interface Component {
  readonly name: string;
  readonly port: number;
  readonly logFile: string;
  /** Marker found in the command line of this project's processes (used to tell a foreign process from ours). */
  readonly marker: string;
  /** True when the component is not run by the stack (e.g. PostgreSQL given by DATABASE_URL). */
  readonly external: boolean;
  version(): string;
  /** The pid of the process this stack started, if it is alive. */
  ownPid(): number | undefined;
  /** Downloads, unpacks and initialises what is missing; idempotent. */
  prepare(): Promise<void>;
  start(): Promise<void>;
  isHealthy(): Promise<boolean>;
  /** How clients authenticate, as observed now (an anonymous attempt is refused, or not). */
  auth(): Promise<string>;
  stop(): Promise<void>;
}

/** A component this stack does not run (given by the environment): it is only checked for health. */
export function externalComponent(spec: {
  name: string;
  port: number;
  describe: string;
  isHealthy: () => Promise<boolean>;
  auth: () => Promise<string>;
  version: () => string;
}): Component {
  return {
    name: spec.name,
    port: spec.port,
    logFile: `(external: ${spec.describe}; see its own logs)`,
    marker: '',
    external: true,
    version: spec.version,
    ownPid: () => undefined,
    prepare: async () => undefined,
    start: async () => undefined,
    isHealthy: spec.isHealthy,
    auth: spec.auth,
    stop: async () => undefined,
  };
}
