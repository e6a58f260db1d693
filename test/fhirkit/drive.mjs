// Drives a carechain gateway with fhir-kit-client, an outside FHIR R4
// client: capability statement, create, read, search, $everything and a
// transaction Bundle. The Go test in this directory starts the node, gives
// the base URL, a bearer token and a ledger patient id in the environment,
// and checks the responses this prints (one JSON object per line).
import { Client, CapabilityTool } from 'fhir-kit-client';

const { FHIR_BASE: baseUrl, FHIR_TOKEN: bearerToken, LEDGER_PATIENT: ledgerPatient } = process.env;
const client = new Client({ baseUrl, bearerToken });
const out = (step, resource) => console.log(JSON.stringify({ step, resource }));

const cs = await client.capabilityStatement();
out('capabilities', cs);
const tool = new CapabilityTool(cs);
if (!tool.resourceCan('Observation', 'create') || !tool.serverCan('transaction')) {
  throw new Error('the CapabilityStatement does not offer Observation create and transaction');
}

const patient = await client.create({
  resourceType: 'Patient',
  body: {
    resourceType: 'Patient',
    identifier: [{ system: 'urn:carechain:patient', value: ledgerPatient }],
    name: [{ family: 'Kit', given: ['Fhir'] }],
    gender: 'female',
    birthDate: '1990-01-02',
  },
});
out('create-patient', patient);

const obs = await client.create({
  resourceType: 'Observation',
  body: {
    resourceType: 'Observation',
    status: 'final',
    code: { coding: [{ system: 'http://loinc.org', code: '8867-4', display: 'Heart rate' }] },
    subject: { reference: `Patient/${patient.id}` },
    effectiveDateTime: '2024-03-04T05:06:07Z',
    valueQuantity: { value: 61, unit: 'beats/minute', system: 'http://unitsofmeasure.org', code: '/min' },
  },
});
out('create-observation', obs);

out('read', await client.read({ resourceType: 'Observation', id: obs.id }));
out('vread', await client.vread({ resourceType: 'Observation', id: obs.id, version: '1' }));
out('search', await client.search({ resourceType: 'Observation', searchParams: { patient: `Patient/${patient.id}`, code: 'http://loinc.org|8867-4' } }));

const tx = await client.transaction({
  body: {
    resourceType: 'Bundle',
    type: 'transaction',
    entry: [
      {
        fullUrl: 'urn:uuid:6b0c3bd2-6e41-4c4d-9d6b-2f7a61b7a001',
        resource: {
          resourceType: 'Encounter', status: 'finished',
          class: { system: 'http://terminology.hl7.org/CodeSystem/v3-ActCode', code: 'AMB' },
          subject: { reference: `Patient/${patient.id}` },
          period: { start: '2024-03-04T05:00:00Z' },
        },
        request: { method: 'POST', url: 'Encounter' },
      },
      {
        resource: {
          resourceType: 'Observation', status: 'final',
          code: { coding: [{ system: 'http://loinc.org', code: '8310-5', display: 'Body temperature' }] },
          subject: { reference: `Patient/${patient.id}` },
          encounter: { reference: 'urn:uuid:6b0c3bd2-6e41-4c4d-9d6b-2f7a61b7a001' },
          effectiveDateTime: '2024-03-04T05:10:00Z',
          valueQuantity: { value: 36.6, unit: 'Cel', system: 'http://unitsofmeasure.org', code: 'Cel' },
        },
        request: { method: 'POST', url: 'Observation' },
      },
    ],
  },
  options: { keepalive: false },
});
out('transaction', tx);

const everything = await client.operation({ name: 'everything', resourceType: 'Patient', id: patient.id, method: 'GET' });
out('everything', everything);
