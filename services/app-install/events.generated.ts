// Generated from schemas/app-install/*.avsc by `npm run schemas:types`. Do not edit.

import type { EventEnvelope } from '../../lib/event-log';

/** The device finished installing the app. */
export interface AppInstallCompleted extends EventEnvelope {
  readonly type: 'app.install.completed';
  readonly userId: string;
  readonly deviceId: string;
  readonly appId: string;
}

/** The install failed. */
export interface AppInstallFailed extends EventEnvelope {
  readonly type: 'app.install.failed';
  readonly userId: string;
  readonly deviceId: string;
  readonly appId: string;
  readonly reason: string;
}

/** A user asked to install an app on a device. */
export interface AppInstallRequested extends EventEnvelope {
  readonly type: 'app.install.requested';
  readonly userId: string;
  readonly deviceId: string;
  readonly appId: string;
  readonly appVersion: null | string;
}

export type AppInstallEvent = AppInstallCompleted | AppInstallFailed | AppInstallRequested;

export type AppInstallEventType = AppInstallEvent['type'];

export const appInstallEventTypes = ['app.install.completed', 'app.install.failed', 'app.install.requested'] as const;

const appInstallEventTypeSet: ReadonlySet<string> = new Set(appInstallEventTypes);

/** Whether an event is one of these (a type guard: past it, the compiler knows the event's type and fields). */
export const isAppInstallEvent = <T extends EventEnvelope>(e: T): e is T & AppInstallEvent => appInstallEventTypeSet.has(e.type);
