import { z } from 'zod';
import { commandRow, type CommandTable } from '../../lib/command-table';
import { fields, noBody } from '../../lib/validation';
import type { AppInstallCommand } from './decider';

const requestBody = z.strictObject({
  userId: fields.userId,
  deviceId: fields.deviceId,
  appId: fields.appId,
  appVersion: fields.appVersion.nullable().optional(),
});
const failBody = z.strictObject({ reason: fields.reason });

const row = commandRow<AppInstallCommand>();

/** The app install command API: a user asks for an install; the device side (a tenant admin) reports it completed or failed. */
export const appInstallCommands: CommandTable<AppInstallCommand> = {
  prefix: '/app-installs',
  tag: 'app installs',
  topics: (t) => t.appInstall,
  routes: [
    row({
      method: 'post',
      path: '',
      summary: 'Ask for an app install on a device (a user: their own)',
      access: 'user',
      body: requestBody,
      name: 'request-install',
      type: 'RequestAppInstall',
      namesUser: (b) => b.userId,
      payload: (b) => ({ ...b, appVersion: b.appVersion ?? null }),
      created: true,
    }),
    row({
      method: 'post',
      path: '/:id/complete',
      summary: 'Report an install completed',
      access: 'tenant_admin',
      body: noBody,
      name: 'complete-install',
      type: 'CompleteAppInstall',
      payload: () => ({}),
    }),
    row({
      method: 'post',
      path: '/:id/fail',
      summary: 'Report an install failed',
      access: 'tenant_admin',
      body: failBody,
      name: 'fail-install',
      type: 'FailAppInstall',
      payload: (b) => b,
    }),
  ],
};
