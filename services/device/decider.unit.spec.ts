import { deciderSpec } from '../../test/decider-spec';
import { draft } from '../../test/events';
import { largeDeviceSpec as hw } from '../../test/fixtures';
import { deviceDecider } from './decider';

const spec = deciderSpec(deviceDecider, 'device-1');
const created = draft('device.created', { spec: hw, tier: 'standard', orderId: 'o1' });
const started = draft('device.started');
const stopped = draft('device.stopped');
const deleted = draft('device.deleted');

describe('device decider', () => {
  describe('CreateDevice', () => {
    test('allocates a device to a user', () =>
      spec
        .given()
        .when({ type: 'CreateDevice', userId: 'u1', name: 'phone', spec: hw, tier: 'standard', region: 'cn-east', orderId: 'o1' })
        .then(created));
    test('an existing device cannot be created again', () =>
      spec
        .given(created)
        .when({ type: 'CreateDevice', userId: 'u1', name: 'x', spec: hw, tier: 'standard', region: 'cn-east', orderId: null })
        .thenRejects(409, /already exists/));
  });

  describe('StartDevice', () => {
    test('a new device starts', () => spec.given(created).when({ type: 'StartDevice' }).then(started));
    test('a stopped device starts again', () => spec.given(created, started, stopped).when({ type: 'StartDevice' }).then(started));
    test('a running device cannot start', () =>
      spec
        .given(created, started)
        .when({ type: 'StartDevice' })
        .thenRejects(409, /already running/));
    test('a deleted device cannot start', () =>
      spec
        .given(created, deleted)
        .when({ type: 'StartDevice' })
        .thenRejects(409, /deleted/));
    test('an unknown device is not found', () =>
      spec
        .given()
        .when({ type: 'StartDevice' })
        .thenRejects(404, /not found/));
  });

  describe('StopDevice', () => {
    test('a running device stops', () =>
      spec
        .given(created, started)
        .when({ type: 'StopDevice', reason: 'user' })
        .then({ ...stopped, reason: 'user' }));
    test('a device that is not running cannot stop', () =>
      spec
        .given(created)
        .when({ type: 'StopDevice', reason: null })
        .thenRejects(409, /not running \(it is created\)/));
    test('a deleted device cannot stop', () =>
      spec
        .given(created, deleted)
        .when({ type: 'StopDevice', reason: null })
        .thenRejects(409, /deleted/));
  });

  describe('UpdateDevice', () => {
    test('renames a device', () =>
      spec
        .given(created)
        .when({ type: 'UpdateDevice', name: 'work phone' })
        .then(draft('device.updated', { name: 'work phone' })));
    test('changes the spec of a stopped device', () => {
      const bigger = { ...hw, memoryMb: 16384 };
      spec
        .given(created)
        .when({ type: 'UpdateDevice', spec: bigger })
        .then(draft('device.updated', { spec: bigger }));
    });
    test('the spec of a running device cannot change', () =>
      spec
        .given(created, started)
        .when({ type: 'UpdateDevice', spec: { ...hw, cpuCores: 8 } })
        .thenRejects(409, /stop the device/));
    test('an update that changes nothing appends nothing', () =>
      spec
        .given(created)
        .when({ type: 'UpdateDevice', name: 'phone', spec: { ...hw } })
        .then());
    test('a deleted device cannot be updated', () =>
      spec
        .given(created, deleted)
        .when({ type: 'UpdateDevice', name: 'x' })
        .thenRejects(409, /deleted/));
  });

  describe('DeleteDevice', () => {
    test('a running device can be deleted (billing closes its session)', () =>
      spec
        .given(created, started)
        .when({ type: 'DeleteDevice', reason: 'released' })
        .then({ ...deleted, reason: 'released' }));
    test('a deleted device cannot be deleted again', () =>
      spec
        .given(created, deleted)
        .when({ type: 'DeleteDevice', reason: null })
        .thenRejects(409, /deleted/));
    test('an unknown device is not found', () =>
      spec
        .given()
        .when({ type: 'DeleteDevice', reason: null })
        .thenRejects(404, /not found/));
  });
});
