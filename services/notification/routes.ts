import { z } from 'zod';
import { commandRow, type CommandTable } from '../../lib/command-table';
import { fields, noBody } from '../../lib/validation';
import type { NotificationCommand } from './decider';

const sendBody = z.strictObject({ userId: fields.userId, title: fields.title, content: fields.content, cause: fields.cause });

const row = commandRow<NotificationCommand>();

/** The notification command API: an operator (tenant admin) issues a notice; the user reads it. */
export const notificationCommands: CommandTable<NotificationCommand> = {
  prefix: '/notifications',
  tag: 'notifications',
  topics: (t) => t.notification,
  routes: [
    row({
      method: 'post',
      path: '',
      summary: 'Issue a notification to a user',
      access: 'tenant_admin',
      body: sendBody,
      name: 'send-notification',
      type: 'SendNotification',
      namesUser: (b) => b.userId,
      payload: (b) => b,
      created: true,
    }),
    row({
      method: 'post',
      path: '/:id/read',
      summary: 'Mark a notification read (its user)',
      access: 'user',
      body: noBody,
      name: 'read-notification',
      type: 'ReadNotification',
      payload: () => ({}),
    }),
  ],
};
