// Drives a running Roster with the real, unmodified @medplum/core MedplumClient.
//
// Environment:
//   ROSTER_URL            base URL of the server (e.g. http://127.0.0.1:8080/)
//   ROSTER_EMAIL          a user's email, ROSTER_PASSWORD its password
//   ROSTER_CLIENT_ID      a ClientApplication id, ROSTER_CLIENT_SECRET its secret
//   ROSTER_FAMILY         family name for the Patient this run creates (optional)
//   ROSTER_CLIENT_CASES   case groups to run beyond the default (see harness.mjs)
//
// Prints exactly one JSON line on stdout (see harness.mjs) and exits
// non-zero on any failure. Run by cmd/roster/clients_test.go.

// @medplum/core 5.x opens subscriptions over WebSocket and expects the global
// that Node >= 22 has. Node 20 lacks it, and the package reads it when the
// module loads, so the stub must exist before the (dynamic) import. This
// script never subscribes: the stub only has to exist.
if (typeof globalThis.WebSocket === 'undefined') {
  globalThis.WebSocket = class WebSocket {
    static CONNECTING = 0;
    static OPEN = 1;
    static CLOSING = 2;
    static CLOSED = 3;
    constructor(url) {
      this.url = String(url);
      this.readyState = 3;
    }
    addEventListener() {}
    removeEventListener() {}
    send() {
      throw new Error('WebSocket stub: not supported in this test');
    }
    close() {}
  };
}

const { MedplumClient } = await import('@medplum/core');
const { check, env, gated, result, run, step } = await import('./harness.mjs');

const MRN = 'http://hospital.example.org/mrn';

// A pass-through fetch that notes the PKCE method the client chose. In Node,
// @medplum/core's S256 hashing reaches for window.btoa, logs "Failed to hash
// code verifier" and falls back to 'plain' (RFC 7636 allows it); that is what
// every Node user of the client sends, so the script leaves it as it is.
const recordingFetch = async (input, init) => {
  if (String(input).endsWith('auth/login') && typeof init?.body === 'string') {
    try {
      result.pkceMethod = JSON.parse(init.body).codeChallengeMethod;
    } catch {
      // not JSON: nothing to note
    }
  }
  return globalThis.fetch(input, init);
};

async function passwordFlow(baseUrl) {
  const email = env('ROSTER_EMAIL');
  const password = env('ROSTER_PASSWORD');
  const family = env('ROSTER_FAMILY', `Compat${Date.now()}`);
  const medplum = new MedplumClient({ baseUrl, fetch: recordingFetch });

  const login = await medplum.startLogin({ email, password });
  check(typeof login.code === 'string' && login.code !== '', `startLogin answered no code: ${JSON.stringify(login)}`);
  step('startLogin', { login: login.login });

  const profile = await medplum.processCode(login.code);
  check(profile && profile.resourceType, 'processCode returned no profile');
  const token = medplum.getAccessToken();
  check(typeof token === 'string' && token.split('.').length === 3, 'no JWT access token after processCode');
  step('processCode', { profile: `${profile.resourceType}/${profile.id}`, project: medplum.getProject()?.id });

  const created = await medplum.createResource({
    resourceType: 'Patient',
    active: true,
    name: [{ family, given: ['Medplum'] }],
    birthDate: '1980-01-02',
  });
  check(created.id && created.meta?.versionId, 'created Patient has no id or meta.versionId');
  step('createResource', { id: created.id, versionId: created.meta.versionId });

  const read = await medplum.readResource('Patient', created.id);
  check(read.id === created.id && read.name?.[0]?.family === family, 'readResource returned another Patient');
  step('readResource', { id: read.id });

  const updated = await medplum.updateResource({ ...read, birthDate: '1981-02-03', gender: 'female' });
  check(updated.birthDate === '1981-02-03', 'updateResource did not keep the new birthDate');
  check(updated.meta?.versionId !== created.meta.versionId, 'updateResource did not change meta.versionId');
  step('updateResource', { versionId: updated.meta.versionId });

  const found = await medplum.searchResources('Patient', { name: family });
  check(found.length === 1 && found[0].id === created.id, `searchResources found ${found.length} Patients for ${family}`);
  check(found.bundle?.resourceType === 'Bundle' && found.bundle.type === 'searchset', 'search answer is not a searchset Bundle');
  step('searchResources', { count: found.length });

  const history = await medplum.readHistory('Patient', created.id);
  check(history.resourceType === 'Bundle' && history.type === 'history', 'readHistory did not answer a history Bundle');
  const versions = (history.entry ?? []).map((e) => e.resource?.meta?.versionId);
  check(versions.length === 2, `history has ${versions.length} entries, want 2`);
  check(versions[0] === updated.meta.versionId, 'history is not newest first');
  step('readHistory', { versions });

  const one = await medplum.searchOne('Patient', { name: family });
  check(one?.id === created.id, `searchOne found ${one?.resourceType}/${one?.id}`);
  step('searchOne');

  // Other Patients get a family that a search by the first one's does not match.
  const other = `Other${family}`;
  const mrn = { system: MRN, value: `${family}-mrn` };
  const query = `identifier=${MRN}|${mrn.value}`;
  const first = await medplum.createResourceIfNoneExist({ resourceType: 'Patient', identifier: [mrn], name: [{ family: other, given: ['Once'] }] }, query);
  const second = await medplum.createResourceIfNoneExist({ resourceType: 'Patient', identifier: [mrn], name: [{ family: other, given: ['Twice'] }] }, query);
  check(first.id && second.id === first.id && second.name?.[0]?.given?.[0] === 'Once', 'createResourceIfNoneExist made a second Patient');
  step('createResourceIfNoneExist', { id: first.id });

  // upsertResource is PUT /Patient?identifier=… (issue 19 item 1): the
  // first call creates, the second updates the same Patient.
  await gated('conditional-writes', 'upsertResource', async () => {
    const key = { system: MRN, value: `${family}-upsert` };
    const upsert = (given) =>
      medplum.upsertResource({ resourceType: 'Patient', identifier: [key], name: [{ family: other, given: [given] }] }, { identifier: `${MRN}|${key.value}` });
    const made = await upsert('Made');
    const again = await upsert('Again');
    check(made.id && again.id === made.id, `upsertResource made ${made.id}, then ${again.id}`);
    check(again.name?.[0]?.given?.[0] === 'Again' && again.meta?.versionId !== made.meta?.versionId, 'the second upsertResource did not update');
    step('upsertResource', { id: made.id });
  });

  // _include (issue 19 item 2): a RelatedPerson of the Patient, found with
  // the Patient marked as an include.
  await gated('include', 'searchInclude', async () => {
    const kin = await medplum.createResource({ resourceType: 'RelatedPerson', patient: { reference: `Patient/${created.id}` }, name: [{ family, given: ['Kin'] }] });
    const bundle = await medplum.search('RelatedPerson', { patient: created.id, _include: 'RelatedPerson:patient' });
    const modes = (bundle.entry ?? []).map((e) => `${e.search?.mode}:${e.resource.resourceType}/${e.resource.id}`);
    check(modes.length === 2 && modes.includes(`match:RelatedPerson/${kin.id}`) && modes.includes(`include:Patient/${created.id}`), `_include entries ${modes}`);
    step('searchInclude', { entries: modes });
  });

  await medplum.signOut();
  check(!medplum.getAccessToken(), 'client still holds a token after signOut');
  const me = await fetch(new URL('auth/me', baseUrl), { headers: { Authorization: `Bearer ${token}` } });
  check(me.status === 401, `GET /auth/me with the signed-out token answered ${me.status}, want 401`);
  step('signOut', { meAfterSignOut: me.status });

  result.patient = { id: created.id, family };
}

async function clientCredentialsFlow(baseUrl) {
  const clientId = env('ROSTER_CLIENT_ID');
  const clientSecret = env('ROSTER_CLIENT_SECRET');
  const medplum = new MedplumClient({ baseUrl, fetch: recordingFetch });
  // startClientLogin verifies the token's client_id claim equals clientId.
  const profile = await medplum.startClientLogin(clientId, clientSecret);
  check(profile?.resourceType === 'ClientApplication' && profile.id === clientId,
    `client login profile is ${profile?.resourceType}/${profile?.id}`);
  step('startClientLogin', { profile: `${profile.resourceType}/${profile.id}` });

  const family = result.patient?.family;
  const found = await medplum.searchResources('Patient', family ? { name: family } : {});
  check(Array.isArray(found), 'client searchResources answered no array');
  if (family) {
    check(found.length === 1 && found[0].birthDate === '1981-02-03', 'the client does not see the updated Patient');
  }
  step('clientSearch', { count: found.length });
}

await run(async () => {
  const baseUrl = env('ROSTER_URL');
  await passwordFlow(baseUrl);
  await clientCredentialsFlow(baseUrl);
});
