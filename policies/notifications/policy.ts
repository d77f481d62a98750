import { deterministicUuid } from '../../lib/decider';
import type { EventEnvelope } from '../../lib/event-log';
import { NO_REACTION, type Reaction } from '../../lib/policy';
import { defineReactions } from '../../services/events';

export const NOTIFICATIONS = 'notifications';

/** Integer fen → "29.90". */
export const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

const STATUS_NAMES: Record<string, string> = { active: '正常', suspended: '已暂停', banned: '已封禁' };

/**
 * One notification.sent for the event's user, its id derived from the causing event (a redelivered event sends
 * nothing new), its cause the event's type and id.
 */
const notify =
  <E extends EventEnvelope>(notice: (e: E) => { userId: string; title: string; content: string }) =>
  (e: E): Reaction[] => {
    const n = notice(e);
    return [
      {
        aggregate: 'notification',
        aggregateId: deterministicUuid(`notification/${e.eventId}`),
        type: 'SendNotification',
        payload: { userId: n.userId, title: n.title, content: n.content, cause: e.type },
      },
    ];
  };

/** The notification service: which events tell their user something, and what. */
export const notificationReactions = defineReactions(NOTIFICATIONS, {
  user: {
    'user.created': notify((e) => ({ userId: e.aggregateId, title: '欢迎加入', content: '欢迎使用云手机平台！' })),
    'user.status.changed': notify((e) => ({
      userId: e.aggregateId,
      title: '账户状态变更',
      content: `您的账户状态已变更为：${STATUS_NAMES[e.status] ?? e.status}`,
    })),
    'user.updated': NO_REACTION,
    'user.deleted': NO_REACTION,
    'user.erased': NO_REACTION,
  },
  order: {
    'order.paid': notify((e) => ({ userId: e.userId, title: '支付成功', content: `您的订单已支付成功，金额：¥${yuan(e.amount.amount)}` })),
    'order.cancelled': notify((e) => ({ userId: e.userId, title: '订单已取消', content: `您的订单已取消，原因：${e.reason}` })),
    'order.refunded': notify((e) => ({
      userId: e.userId,
      title: '退款成功',
      content: `您的订单已退款，金额：¥${yuan(e.amount.amount)}，原因：${e.reason}`,
    })),
    'order.created': NO_REACTION,
  },
  device: {
    'device.created': notify((e) => ({ userId: e.userId, title: '云手机已就绪', content: `您的云手机「${e.name}」已分配成功` })),
    'device.started': NO_REACTION,
    'device.stopped': NO_REACTION,
    'device.updated': NO_REACTION,
    'device.deleted': NO_REACTION,
  },
  appInstall: {
    'app.install.completed': notify((e) => ({ userId: e.userId, title: '应用安装成功', content: `应用 ${e.appId} 已安装完成` })),
    'app.install.failed': notify((e) => ({ userId: e.userId, title: '应用安装失败', content: `应用 ${e.appId} 安装失败：${e.reason}` })),
    'app.install.requested': NO_REACTION,
  },
});
