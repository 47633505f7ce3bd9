// Drives a running Roster with the real, unmodified fhir-kit-client 2.x
// over HTTP with a bearer token: the FHIR REST interactions a second client
// library uses every day. Run by cmd/roster/clients_test.go.
//
// Environment:
//   ROSTER_URL          base URL of the server (e.g. http://127.0.0.1:8080/)
//   ROSTER_TOKEN        an access token of a project admin
//   ROSTER_FAMILY       family name of the Patients this run creates
//   ROSTER_CLIENT_CASES case groups to run beyond the default (see harness.mjs)

import { Client } from 'fhir-kit-client';

import { check, env, gated, rejection, result, run, step } from './harness.mjs';

const MRN = 'http://hospital.example.org/mrn';

const statusOf = (answer) => Client.httpFor(answer).response?.status;

await run(async () => {
  const client = new Client({ baseUrl: new URL('fhir/R4', env('ROSTER_URL')).href, bearerToken: env('ROSTER_TOKEN') });
  const family = env('ROSTER_FAMILY');
  const mrn = (n) => `${family}-${n}`;
  const patient = (n, extra = {}) => ({
    resourceType: 'Patient',
    identifier: [{ system: MRN, value: mrn(n) }],
    name: [{ family, given: [`Kit${n}`] }],
    birthDate: '1990-01-0' + n,
    ...extra,
  });

  const caps = await client.capabilityStatement();
  check(caps.resourceType === 'CapabilityStatement' && caps.fhirVersion === '4.0.1', `metadata: ${caps.resourceType} ${caps.fhirVersion}`);
  const patientCaps = caps.rest?.[0]?.resource?.find((r) => r.type === 'Patient');
  const interactions = (patientCaps?.interaction ?? []).map((i) => i.code);
  for (const code of ['read', 'vread', 'update', 'patch', 'delete', 'history-instance', 'create', 'search-type']) {
    check(interactions.includes(code), `CapabilityStatement lacks Patient ${code}: ${interactions}`);
  }
  step('capabilityStatement', { interactions });

  const created = await client.create({ resourceType: 'Patient', body: patient(1) });
  check(statusOf(created) === 201 && created.id && created.meta?.versionId === '1', `create answered ${statusOf(created)} ${created.id}`);
  step('create', { id: created.id });
  const id = created.id;

  const read = await client.read({ resourceType: 'Patient', id });
  check(read.id === id && read.name?.[0]?.family === family, 'read returned another Patient');
  step('read');

  const updated = await client.update({ resourceType: 'Patient', id, body: { ...read, birthDate: '1991-02-03' } });
  check(updated.birthDate === '1991-02-03' && updated.meta?.versionId === '2', `update: ${updated.birthDate} v${updated.meta?.versionId}`);
  step('update');

  const patched = await client.patch({ resourceType: 'Patient', id, jsonPatch: [{ op: 'add', path: '/gender', value: 'female' }] });
  check(patched.gender === 'female' && patched.birthDate === '1991-02-03' && patched.meta?.versionId === '3', `patch: ${JSON.stringify(patched)}`);
  step('patch');

  const v1 = await client.vread({ resourceType: 'Patient', id, version: '1' });
  check(v1.birthDate === '1990-01-01' && v1.gender === undefined, 'vread of version 1 is not the created Patient');
  step('vread');

  const history = await client.history({ resourceType: 'Patient', id });
  const versions = (history.entry ?? []).map((e) => e.resource?.meta?.versionId);
  check(history.type === 'history' && versions.join() === '3,2,1', `history versions ${versions}, want 3,2,1 newest first`);
  step('history', { versions });

  // Four more Patients of the family, then every page of a search two a page.
  for (const n of [2, 3, 4, 5]) {
    await client.create({ resourceType: 'Patient', body: patient(n) });
  }
  let page = await client.search({ resourceType: 'Patient', searchParams: { family, _count: 2, _sort: 'birthdate', _total: 'accurate' } });
  check(page.type === 'searchset' && page.total === 5, `search total ${page.total}, want 5`);
  const seen = [];
  let pages = 0;
  while (page) {
    pages++;
    check(pages <= 5, 'nextPage never ends');
    check((page.entry ?? []).length <= 2, `a page of ${page.entry.length} entries, want at most 2`);
    seen.push(...(page.entry ?? []).map((e) => e.resource.birthDate));
    page = await client.nextPage({ bundle: page });
  }
  check(pages === 3 && seen.join() === ['1990-01-02', '1990-01-03', '1990-01-04', '1990-01-05', '1991-02-03'].join(),
    `pages ${pages}, birthDates ${seen}`);
  step('searchPages', { pages });

  const again = await client.create({
    resourceType: 'Patient',
    body: patient(1),
    options: { headers: { 'If-None-Exist': `identifier=${MRN}|${mrn(1)}` } },
  });
  check(statusOf(again) === 200 && again.id === id, `conditional create answered ${statusOf(again)} ${again.id}, want 200 ${id}`);
  step('conditionalCreate');

  const batch = await client.batch({
    body: {
      resourceType: 'Bundle',
      type: 'batch',
      entry: [
        { request: { method: 'GET', url: `Patient/${id}` } },
        { resource: patient(6), request: { method: 'POST', url: 'Patient' } },
        { request: { method: 'GET', url: 'Patient/no-such-patient' } },
      ],
    },
  });
  const batchStatus = (batch.entry ?? []).map((e) => e.response?.status?.split(' ')[0]);
  check(batch.type === 'batch-response' && batchStatus.join() === '200,201,404', `batch: ${batch.type} ${batchStatus}`);
  step('batch', { status: batchStatus });

  const urn = 'urn:uuid:2f0bd9b0-6c9e-4d55-9f7e-0a4c1a0c0001';
  const tx = await client.transaction({
    body: {
      resourceType: 'Bundle',
      type: 'transaction',
      entry: [
        { fullUrl: urn, resource: patient(7), request: { method: 'POST', url: 'Patient' } },
        {
          resource: { resourceType: 'RelatedPerson', patient: { reference: urn }, name: [{ family, given: ['Kin'] }] },
          request: { method: 'POST', url: 'RelatedPerson' },
        },
      ],
    },
  });
  check(tx.type === 'transaction-response' && tx.entry?.length === 2, `transaction: ${tx.type}`);
  const [txPatient, txRelated] = tx.entry.map((e) => e.response.location.match(/(Patient|RelatedPerson)\/([^/]+)/)[2]);
  const kin = await client.read({ resourceType: 'RelatedPerson', id: txRelated });
  check(kin.patient?.reference === `Patient/${txPatient}`, `the transaction left ${kin.patient?.reference}, want Patient/${txPatient}`);
  step('transaction', { patient: txPatient, relatedPerson: txRelated });

  const missing = await rejection(client.read({ resourceType: 'Patient', id: 'no-such-patient' }), 'reading an unknown Patient');
  check(missing.response?.status === 404 && missing.response.data?.resourceType === 'OperationOutcome', `unknown Patient: ${missing.response?.status}`);
  step('readMissing');

  const deleted = await client.delete({ resourceType: 'Patient', id: txPatient });
  check(deleted.resourceType === 'OperationOutcome', `delete answered ${deleted.resourceType}`);
  const gone = await rejection(client.read({ resourceType: 'Patient', id: txPatient }), 'reading a deleted Patient');
  check(gone.response?.status === 410, `read after delete answered ${gone.response?.status}, want 410`);
  step('delete', { id: txPatient });

  // Conditional writes (issue 19 item 1): fhir-kit-client's update with
  // searchParams is PUT /Patient?identifier=…; it has no conditional delete
  // or patch method, so those go through its raw request.
  await gated('conditional-writes', 'conditionalUpdate', async () => {
    const byMRN = (n) => ({ identifier: `${MRN}|${mrn(n)}` });
    const one = await client.update({ resourceType: 'Patient', searchParams: byMRN(2), body: patient(2, { gender: 'male' }) });
    check(statusOf(one) === 200 && one.gender === 'male' && one.meta?.versionId === '2', `conditional update of one match: ${statusOf(one)} ${JSON.stringify(one)}`);
    const none = await client.update({ resourceType: 'Patient', searchParams: byMRN(8), body: patient(8) });
    check(statusOf(none) === 201 && none.id, `conditional update of no match answered ${statusOf(none)}, want 201`);
    const many = await rejection(
      client.update({ resourceType: 'Patient', searchParams: { family }, body: patient(9) }),
      'a conditional update matching several Patients',
    );
    check(many.response?.status === 412, `several matches answered ${many.response?.status}, want 412`);
    step('conditionalUpdate', { created: none.id });
  });
  await gated('conditional-writes', 'conditionalPatch', async () => {
    const patchedByMRN = await client.request(`Patient?identifier=${encodeURIComponent(`${MRN}|${mrn(3)}`)}`, {
      method: 'PATCH',
      body: [{ op: 'add', path: '/gender', value: 'other' }],
      options: { headers: { 'Content-Type': 'application/json-patch+json' } },
    });
    check(patchedByMRN.gender === 'other' && patchedByMRN.identifier?.[0]?.value === mrn(3), `conditional patch: ${JSON.stringify(patchedByMRN)}`);
    step('conditionalPatch');
  });
  await gated('conditional-writes', 'conditionalDelete', async () => {
    await client.request(`Patient?identifier=${encodeURIComponent(`${MRN}|${mrn(4)}`)}`, { method: 'DELETE' });
    const left = await client.search({ resourceType: 'Patient', searchParams: { identifier: `${MRN}|${mrn(4)}` } });
    check((left.entry ?? []).length === 0, 'the conditionally deleted Patient is still found');
    const many = await rejection(client.request(`Patient?family=${encodeURIComponent(family)}`, { method: 'DELETE' }),
      'a conditional delete matching several Patients');
    check(many.response?.status === 412, `conditional delete of several answered ${many.response?.status}, want 412`);
    step('conditionalDelete');
  });

  // _include (issue 19 item 2): the RelatedPerson of the transaction with
  // its Patient, who was deleted above, and one whose Patient is there.
  await gated('include', 'searchInclude', async () => {
    const kept = await client.create({
      resourceType: 'RelatedPerson',
      body: { resourceType: 'RelatedPerson', patient: { reference: `Patient/${id}` }, name: [{ family, given: ['Kin2'] }] },
    });
    const bundle = await client.search({
      resourceType: 'RelatedPerson',
      searchParams: { name: family, _include: 'RelatedPerson:patient' },
    });
    const modes = (bundle.entry ?? []).map((e) => `${e.search?.mode}:${e.resource.resourceType}/${e.resource.id}`).sort();
    check(modes.join() === [`include:Patient/${id}`, `match:RelatedPerson/${kept.id}`, `match:RelatedPerson/${txRelated}`].sort().join(),
      `_include entries ${modes}`);
    step('searchInclude', { entries: modes });
  });

  result.patient = { id, family };
});
