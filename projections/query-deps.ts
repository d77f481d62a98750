import type { AuthConfig } from '../lib/config';
import type { Db } from '../lib/db';
import type { Topics } from '../lib/topics';

/** What the query routers need: the read models' database, the topics (for consistency tokens), auth and bounds. */
export interface QueryDeps {
  db: Db;
  topics: Topics;
  auth: AuthConfig;
  consistencyTimeoutMs: number;
}
