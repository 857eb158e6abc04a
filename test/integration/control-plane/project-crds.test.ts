// The project's CRDs (crds/) must be accepted by a real kube-apiserver: the harness and
// `cluster up` install them by default, so a CRD the apiserver rejects breaks every integration
// test and the demo. This catches schema and CEL mistakes that local validation cannot.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { CustomObjectsApi } from '@kubernetes/client-node';
import { REPO_ROOT, readCrdManifests } from '../../../scripts/control-plane/control-plane.ts';
import { sharedControlPlane } from '../../harness/control-plane.ts';

const crds = await readCrdManifests(join(REPO_ROOT, 'crds'));

describe('project crds', () => {
  it('the CRDs in crds/ install and their resources can be listed', {
    skip: crds.length === 0 && 'crds/ has no CRDs',
  }, async () => {
    // Installation (apply, Established, discovery, listable) happens inside the start; an apiserver
    // rejection surfaces here with its own message.
    const plane = await sharedControlPlane();
    const objects = plane.kubeConfig.makeApiClient(CustomObjectsApi);
    for (const crd of crds) {
      for (const version of crd.servedVersions) {
        const list = await objects.listClusterCustomObject({ group: crd.group, version, plural: crd.plural });
        assert.deepEqual(list.items, [], `${crd.plural}.${crd.group}/${version} is served and empty`);
      }
    }
  });
});
