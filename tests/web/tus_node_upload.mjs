// Upload one file with the real tus-js-client (Node build, from the repo's node_modules) to
// a segarena server, the way the browser's upload.js does, remembering the upload's address
// in a file so a second run resumes it.
//
//   node tests/web/tus_node_upload.mjs <base url> <file> <url store file> <phase id> [die at]
//
// The API token is read from the environment (SEGARENA_TOKEN). With "die at" (a fraction,
// e.g. 0.4) the process kills itself (SIGKILL, mid-request) once that much was sent.
// Prints one JSON object per line: {"event": "resuming"|"progress"|"success"|"result"|"error"}.
import { createReadStream } from "node:fs";
import * as tus from "tus-js-client";

const [base, file, store, phaseId, dieAt] = process.argv.slice(2);
const token = process.env.SEGARENA_TOKEN;
const say = (event, fields = {}) => process.stdout.write(JSON.stringify({ event, ...fields }) + "\n");
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

async function result(url) {
  for (;;) {
    const answer = await fetch(url + "/result", { headers: { Authorization: `Bearer ${token}` } });
    const body = await answer.json();
    if (body.state !== "receiving") return body;
    await sleep(200);
  }
}

const upload = new tus.Upload(createReadStream(file), {
  endpoint: base + "/uploads/",
  chunkSize: 1024 * 1024,
  retryDelays: [0, 300, 1000, 2000, 4000],
  headers: { Authorization: `Bearer ${token}` },
  metadata: { kind: "submission", target: String(phaseId), filename: "algo.tar" },
  urlStorage: new tus.FileUrlStorage(store),
  storeFingerprintForResuming: true,
  removeFingerprintOnSuccess: true,
  onProgress(sent, total) {
    say("progress", { sent, total });
    if (dieAt && sent >= Number(dieAt) * total) process.kill(process.pid, "SIGKILL");
  },
  onError(error) {
    say("error", { message: String(error) });
    process.exit(1);
  },
  async onSuccess() {
    say("success", { url: upload.url });
    say("result", { result: await result(upload.url) });
  },
});

const previous = await upload.findPreviousUploads();
if (previous.length > 0) {
  say("resuming", { url: previous[0].uploadUrl });
  upload.resumeFromPreviousUpload(previous[0]);
}
upload.start();
