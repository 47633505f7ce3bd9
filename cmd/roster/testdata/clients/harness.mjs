// What the client scripts share: their environment, their steps and checks,
// the cases that wait for features not yet merged, and the one JSON line
// each prints for the Go spec that runs it (cmd/roster/clients_test.go):
//
//   {"ok":true,"steps":[{"step":"create",...},...],"pending":["include:searchInclude"],...}
//
// ROSTER_CLIENT_CASES is a comma-separated list of the case groups to run
// beyond those that always run; a case of a group not listed is noted in
// "pending" instead of run. The Go spec says which groups are enabled.

export const env = (name, fallback) => {
  const v = process.env[name] ?? fallback;
  if (v === undefined || v === '') {
    throw new Error(`missing environment variable ${name}`);
  }
  return v;
};

export const result = { ok: false, steps: [], pending: [] };

export const step = (name, detail = {}) => result.steps.push({ step: name, ...detail });

export const check = (cond, message) => {
  if (!cond) {
    throw new Error(`check failed: ${message}`);
  }
};

const enabled = new Set((process.env.ROSTER_CLIENT_CASES ?? '').split(',').map((s) => s.trim()).filter(Boolean));

// gated runs the case fn, which records step `name`, only when its group is
// enabled; otherwise it notes "group:name" as pending.
export async function gated(group, name, fn) {
  if (!enabled.has(group)) {
    result.pending.push(`${group}:${name}`);
    return;
  }
  await fn();
}

// rejection awaits a call that must fail and returns what it threw.
export async function rejection(promise, what) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error(`check failed: ${what} succeeded, want an error`);
}

// run runs main, prints the result line and sets the exit code.
export async function run(main) {
  try {
    await main();
    result.ok = true;
  } catch (err) {
    result.error = String(err?.stack ?? err);
    // MedplumClient's errors carry the OperationOutcome; fhir-kit-client's the response.
    if (err?.outcome) {
      result.outcome = err.outcome;
    }
    if (err?.response) {
      result.response = err.response;
    }
  }
  process.stdout.write(JSON.stringify(result) + '\n');
  process.exitCode = result.ok ? 0 : 1;
}
