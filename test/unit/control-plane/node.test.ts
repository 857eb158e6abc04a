// The pure parts of the real node (scripts/control-plane/node.ts, node-host.ts): what teardown
// finds to undo, and the settings that keep the node's traffic and files on the project's own.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  cniConflist,
  containerdConfig,
  isShimOf,
  kubeletConfig,
  nodePathsIn,
} from '../../../scripts/control-plane/node.ts';
import { jumpLineNumbers, mountsUnder, NODE_NETWORK } from '../../../scripts/control-plane/node-host.ts';

const paths = nodePathsIn('/tmp/catchpoint-cp-abc');

describe('node', () => {
  it('mountsUnder: the mounts at or below a directory, deepest first, and nothing beside it', () => {
    const mountinfo = [
      '22 1 254:0 / / rw,relatime - ext4 /dev/vda rw',
      '101 22 0:50 / /tmp/catchpoint-cp-abc/node/kubelet/pods/u1/volumes/kubernetes.io~projected/token rw - tmpfs tmpfs rw',
      '102 22 0:51 / /tmp/catchpoint-cp-abc/node/containerd/state/netns/cni-1 rw - nsfs nsfs rw',
      '103 22 0:52 / /tmp/catchpoint-cp-abcdef/other rw - tmpfs tmpfs rw',
      '104 22 0:53 / /tmp/catchpoint-cp-abc/node/with\\040space rw - tmpfs tmpfs rw',
      '',
    ].join('\n');
    assert.deepEqual(mountsUnder(mountinfo, '/tmp/catchpoint-cp-abc'), [
      '/tmp/catchpoint-cp-abc/node/kubelet/pods/u1/volumes/kubernetes.io~projected/token',
      '/tmp/catchpoint-cp-abc/node/containerd/state/netns/cni-1',
      '/tmp/catchpoint-cp-abc/node/with space',
    ]);
  });

  it('jumpLineNumbers: the rules of a chain that jump to the given targets', () => {
    const listing = [
      'Chain FORWARD (policy ACCEPT)',
      'num  target     prot opt source               destination',
      '1    CPB-NODE-GUARD  all  --  10.88.0.0/16   0.0.0.0/0',
      '2    KUBE-FORWARD  all  --  0.0.0.0/0            0.0.0.0/0            /* kubernetes forwarding rules */',
      '3    CNI-HOSTPORT-DNAT  all  --  0.0.0.0/0   0.0.0.0/0',
      '4    ACCEPT     all  --  0.0.0.0/0            0.0.0.0/0',
    ].join('\n');
    assert.deepEqual(jumpLineNumbers(listing, ['CNI-HOSTPORT-DNAT', 'KUBE-FIREWALL']), [3]);
    assert.deepEqual(jumpLineNumbers(listing, ['ACCEPT', 'KUBE-FORWARD']), [2, 4]);
  });

  it('isShimOf: only the shims of this node’s containerd', () => {
    const ours = [
      '/bin/containerd-shim-runc-v2',
      '-namespace',
      'k8s.io',
      '-id',
      'x',
      '-address',
      paths.containerdSocket,
    ].join('\0');
    const theirs = [
      '/usr/bin/containerd-shim-runc-v2',
      '-namespace',
      'k8s.io',
      '-address',
      '/run/containerd/containerd.sock',
    ].join('\0');
    const other = ['/usr/bin/sleep', paths.containerdSocket].join('\0');
    assert.equal(isShimOf(ours, paths.containerdSocket), true);
    assert.equal(isShimOf(theirs, paths.containerdSocket), false);
    assert.equal(isShimOf(other, paths.containerdSocket), false);
  });

  it('the pod network is the project’s bridge and range, without masquerade', () => {
    const conf = JSON.parse(cniConflist(paths));
    const bridge = conf.plugins[0];
    assert.equal(bridge.bridge, NODE_NETWORK.bridge);
    assert.equal(bridge.ipMasq, false, 'no source NAT: pod traffic never leaves as the host');
    assert.equal(bridge.ipam.ranges[0][0].subnet, NODE_NETWORK.podCidr);
    assert.ok(bridge.ipam.dataDir.startsWith(paths.root), 'IP allocations under the node’s directory');
  });

  it('containerd and the kubelet keep their state under the node’s directory', () => {
    const containerd = containerdConfig(paths);
    for (const key of ['root', 'state', 'address', 'path', 'Root', 'conf_dir']) {
      const m = new RegExp(`^\\s*${key} = '([^']+)'`, 'm').exec(containerd);
      assert.ok(m?.[1]?.startsWith(paths.root), `${key} under ${paths.root}: ${m?.[1]}`);
    }
    assert.match(containerd, /restrict_oom_score_adj = true/);
    assert.match(containerd, /netns_mounts_under_state_dir = true/);
    const kubelet = kubeletConfig({ paths, caCert: '/ca.crt', port: 10250 });
    assert.match(kubelet, new RegExp(`podLogsDir: ${paths.podLogsDir}`));
    assert.match(kubelet, new RegExp(`address: ${NODE_NETWORK.nodeIp.replace(/\./g, '\\.')}`));
    assert.match(kubelet, /anonymous:\n\s+enabled: false/);
  });
});
