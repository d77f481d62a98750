import { assertNever, type Decider, type Draft } from '../../lib/decider';
import { conflict, invalid, notFound } from '../../lib/errors';
import type { AppInstallEvent, AppInstallStatus } from './events';

export type AppInstallCommand =
  | {
      readonly type: 'RequestAppInstall';
      readonly userId: string;
      readonly deviceId: string;
      readonly appId: string;
      readonly appVersion: string | null;
    }
  | { readonly type: 'CompleteAppInstall' }
  | { readonly type: 'FailAppInstall'; readonly reason: string };

export type AppInstallState =
  | { readonly status: 'none' }
  | { readonly status: AppInstallStatus; readonly userId: string; readonly deviceId: string; readonly appId: string };

function decide(c: AppInstallCommand, state: AppInstallState): Draft<AppInstallEvent>[] {
  if (c.type === 'RequestAppInstall') {
    if (state.status !== 'none') throw conflict('install already requested');
    const missing = (['deviceId', 'appId'] as const).filter((k) => c[k].trim() === '');
    if (missing.length > 0) throw invalid(`an install request needs ${missing.join(' and ')}`, { fields: missing });
    return [{ type: 'app.install.requested', userId: c.userId, deviceId: c.deviceId, appId: c.appId, appVersion: c.appVersion }];
  }
  if (state.status === 'none') throw notFound('install not found');
  if (state.status !== 'requested') throw conflict(`install is already ${state.status}`);
  const { userId, deviceId, appId } = state;
  switch (c.type) {
    case 'CompleteAppInstall':
      return [{ type: 'app.install.completed', userId, deviceId, appId }];
    case 'FailAppInstall':
      return [{ type: 'app.install.failed', userId, deviceId, appId, reason: c.reason }];
    default:
      return assertNever(c);
  }
}

function evolve(state: AppInstallState, e: AppInstallEvent): AppInstallState {
  switch (e.type) {
    case 'app.install.requested':
      return { status: 'requested', userId: e.userId, deviceId: e.deviceId, appId: e.appId };
    case 'app.install.completed':
      return state.status === 'none' ? state : { ...state, status: 'installed' };
    case 'app.install.failed':
      return state.status === 'none' ? state : { ...state, status: 'failed' };
    default:
      return assertNever(e);
  }
}

export const appInstallDecider: Decider<AppInstallCommand, AppInstallEvent, AppInstallState> = {
  initialState: { status: 'none' },
  commands: { RequestAppInstall: true, CompleteAppInstall: true, FailAppInstall: true },
  decide,
  evolve,
};

/** Whose install it is: a `user` may command only their own (checked by the writer, lib/command-processor.ts). */
export const appInstallOwner = (state: AppInstallState): string | null => (state.status === 'none' ? null : state.userId);
