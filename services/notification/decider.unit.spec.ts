import { deciderSpec } from '../../test/decider-spec';
import { draft } from '../../test/events';
import { notificationDecider } from './decider';

const spec = deciderSpec(notificationDecider, 'n-1');
const sent = draft('notification.sent', { userId: 'u1', title: '欢迎加入', content: '欢迎使用云手机平台！', cause: 'user.created' });

describe('notification decider', () => {
  test('a notification is issued to a user', () =>
    spec
      .given()
      .when({ type: 'SendNotification', userId: 'u1', title: '欢迎加入', content: '欢迎使用云手机平台！', cause: 'user.created' })
      .then(sent));
  test('the same notification is not sent twice', () =>
    spec
      .given(sent)
      .when({ type: 'SendNotification', userId: 'u1', title: 'x', content: 'y', cause: 'z' })
      .thenRejects(409, /already sent/));
  test('the user reads it', () => spec.given(sent).when({ type: 'ReadNotification' }).then(draft('notification.read')));
  test('a notification can be read once', () =>
    spec
      .given(sent, draft('notification.read'))
      .when({ type: 'ReadNotification' })
      .thenRejects(409, /already read/));
  test('an unknown notification is not found', () =>
    spec
      .given()
      .when({ type: 'ReadNotification' })
      .thenRejects(404, /not found/));
});
