import { deterministicUuid } from '../../lib/decider';
import type { AnyEvent } from '../../lib/event-log';
import type { Reaction } from '../../lib/policy';
import type { Topics } from '../../lib/topics';

export const NOTIFICATIONS = 'notifications';

/** Integer fen → "29.90". */
export const yuan = (fen: number) => `${Math.floor(fen / 100)}.${String(fen % 100).padStart(2, '0')}`;

const STATUS_NAMES: Record<string, string> = { active: '正常', suspended: '已暂停', banned: '已封禁' };

type Fields = Record<string, unknown> & { userId?: string };

/** The notice an event gives its user, or null when it gives none. */
export function noticeFor(e: AnyEvent): { userId: string; title: string; content: string } | null {
  const f = e as unknown as Fields;
  const money = () => `¥${yuan((f.amount as { amount: number }).amount)}`;
  switch (e.type) {
    case 'user.created':
      return { userId: e.aggregateId, title: '欢迎加入', content: '欢迎使用云手机平台！' };
    case 'user.status.changed':
      return {
        userId: e.aggregateId,
        title: '账户状态变更',
        content: `您的账户状态已变更为：${STATUS_NAMES[String(f.status)] ?? String(f.status)}`,
      };
    case 'order.paid':
      return { userId: f.userId!, title: '支付成功', content: `您的订单已支付成功，金额：${money()}` };
    case 'order.cancelled':
      return { userId: f.userId!, title: '订单已取消', content: `您的订单已取消，原因：${String(f.reason)}` };
    case 'order.refunded':
      return { userId: f.userId!, title: '退款成功', content: `您的订单已退款，金额：${money()}，原因：${String(f.reason)}` };
    case 'device.created':
      return { userId: f.userId!, title: '云手机已就绪', content: `您的云手机「${String(f.name)}」已分配成功` };
    case 'app.install.completed':
      return { userId: f.userId!, title: '应用安装成功', content: `应用 ${String(f.appId)} 已安装完成` };
    case 'app.install.failed':
      return { userId: f.userId!, title: '应用安装失败', content: `应用 ${String(f.appId)} 安装失败：${String(f.reason)}` };
    default:
      return null;
  }
}

/**
 * The notification service: one notification.sent per event worth telling the user about, its id derived from
 * the causing event (a redelivered event sends nothing new), its cause the event's type and id.
 */
export function notificationReactions(topics: Topics) {
  return (e: AnyEvent): Reaction[] => {
    const n = noticeFor(e);
    if (!n) return [];
    return [
      {
        topics: topics.notification,
        aggregateId: deterministicUuid(`notification/${e.eventId}`),
        type: 'SendNotification',
        payload: { userId: n.userId, title: n.title, content: n.content, cause: e.type },
      },
    ];
  };
}

export const notificationSourceTopics = (t: Topics) => [t.user.events, t.order.events, t.device.events, t.appInstall.events];
