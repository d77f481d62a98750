import { deciderSpec } from '../../test/decider-spec';
import { draft } from '../../test/events';
import { appInstallDecider } from './decider';

const spec = deciderSpec(appInstallDecider, 'install-1');
const requested = draft('app.install.requested', { userId: 'u1', deviceId: 'd1', appId: 'com.tencent.mm', appVersion: '8.0' });
const request = { type: 'RequestAppInstall', userId: 'u1', deviceId: 'd1', appId: 'com.tencent.mm', appVersion: '8.0' } as const;

describe('app install decider', () => {
  test('a user asks to install an app on a device', () => spec.given().when(request).then(requested));
  test('an install request needs a device id and an app id', () =>
    spec
      .given()
      .when({ ...request, deviceId: ' ', appId: '' })
      .thenRejects(400, /needs deviceId and appId/));
  test('the same install cannot be requested twice', () =>
    spec
      .given(requested)
      .when(request)
      .thenRejects(409, /already requested/));
  test('a requested install completes', () =>
    spec.given(requested).when({ type: 'CompleteAppInstall' }).then(draft('app.install.completed')));
  test('a requested install fails with a reason', () =>
    spec
      .given(requested)
      .when({ type: 'FailAppInstall', reason: 'device is not running' })
      .then(draft('app.install.failed', { reason: 'device is not running' })));
  test('a completed install cannot fail', () =>
    spec
      .given(requested, draft('app.install.completed'))
      .when({ type: 'FailAppInstall', reason: 'x' })
      .thenRejects(409, /already installed/));
  test('a failed install cannot complete', () =>
    spec
      .given(requested, draft('app.install.failed', { reason: 'x' }))
      .when({ type: 'CompleteAppInstall' })
      .thenRejects(409, /already failed/));
  test('an unknown install is not found', () =>
    spec
      .given()
      .when({ type: 'CompleteAppInstall' })
      .thenRejects(404, /not found/));
});
