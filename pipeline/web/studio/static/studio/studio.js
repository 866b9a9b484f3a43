// The recording studio: microphone set-up with a level meter and advice, recording segment
// by segment (each take uploaded as soon as it stops) or in one take, and "Build my track".
//
// The browser's echo cancellation, noise suppression and automatic gain are turned off:
// they pump and colour a voice. MediaRecorder records PCM in WebM where the browser can
// (Chromium), else Opus; the server converts every take to FLAC.

const root = document.getElementById("studio");
const $ = (selector) => root.querySelector(selector);

const ui = {
  error: $("[data-error]"),
  startMic: $("[data-start-mic]"),
  microphone: $("[data-microphone]"),
  meter: $("[data-meter]"),
  meterBar: $("[data-meter-bar]"),
  measureNoise: $("[data-measure-noise]"),
  advice: $("[data-advice]"),
  progress: $("[data-progress]"),
  id: $("[data-segment-id]"),
  text: $("[data-segment-text]"),
  spoken: $("[data-segment-spoken]"),
  cue: $("[data-segment-cue]"),
  state: $("[data-segment-state]"),
  previous: $("[data-previous]"),
  record: $("[data-record]"),
  stop: $("[data-stop]"),
  play: $("[data-play]"),
  retake: $("[data-retake]"),
  next: $("[data-next]"),
  playback: $("[data-playback]"),
  list: $("[data-segment-list]"),
  oneTake: $("[data-one-take]"),
  oneTakeStop: $("[data-one-take-stop]"),
  oneTakeStatus: $("[data-one-take-status]"),
  fill: $("[data-fill]"),
  build: $("[data-build]"),
  buildProgress: $("[data-build-progress]"),
  buildStatus: $("[data-build-status]"),
  built: $("[data-built]"),
  track: $("[data-track]"),
  filled: $("[data-filled]"),
};

const CONSTRAINTS = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
const MIME_TYPES = ["audio/webm;codecs=pcm", "audio/webm;codecs=opus", "audio/ogg;codecs=opus"];

const segments = [...ui.list.querySelectorAll("li[data-segment]")].map((item) => ({
  id: item.dataset.segment,
  text: item.dataset.text,
  spoken: item.dataset.spoken,
  cue: item.dataset.cue,
  item,
}));
let current = Math.max(
  0,
  segments.findIndex((s) => s.item.dataset.condition !== "ok"),
);

let stream = null;
let audioContext = null;
let analyser = null;
let recorder = null;
let mode = "idle"; // idle | segment | reading
let peakHold = [];
let noiseFloor = null;

function showError(message) {
  ui.error.textContent = message || "";
}

function dbfs(value) {
  return value > 0 ? 20 * Math.log10(value) : -120;
}

// --------------------------------------------------------------------------- microphone

async function openMicrophone(deviceId) {
  if (stream) stream.getTracks().forEach((track) => track.stop());
  const audio = { ...CONSTRAINTS, channelCount: 1 };
  if (deviceId) audio.deviceId = { exact: deviceId };
  stream = await navigator.mediaDevices.getUserMedia({ audio });
  if (!audioContext) audioContext = new AudioContext();
  await audioContext.resume();
  const source = audioContext.createMediaStreamSource(stream);
  analyser = audioContext.createAnalyser();
  analyser.fftSize = 2048;
  source.connect(analyser);
  root.dataset.recordingType = recordingType();
  // What the browser applied: none of its voice processing should be on.
  const applied = stream.getAudioTracks()[0].getSettings();
  root.dataset.processing = Object.keys(CONSTRAINTS).filter((key) => applied[key]).join(" ") || "off";
}

async function listMicrophones() {
  const devices = await navigator.mediaDevices.enumerateDevices();
  const chosen = stream?.getAudioTracks()[0]?.getSettings().deviceId;
  ui.microphone.replaceChildren();
  devices
    .filter((device) => device.kind === "audioinput")
    .forEach((device, index) => {
      const option = new Option(device.label || `Microphone ${index + 1}`, device.deviceId);
      option.selected = device.deviceId === chosen;
      ui.microphone.append(option);
    });
  ui.microphone.disabled = false;
}

async function startMicrophone() {
  showError("");
  try {
    await openMicrophone(ui.microphone.value || undefined);
    await listMicrophones();
  } catch (error) {
    showError(`The microphone could not be opened: ${error.message}`);
    return;
  }
  ui.startMic.disabled = true;
  ui.measureNoise.disabled = false;
  ui.record.disabled = false;
  ui.oneTake.disabled = false;
  root.dataset.ready = "true";
  requestAnimationFrame(meterLoop);
  render();
}

function currentLevel() {
  const samples = new Float32Array(analyser.fftSize);
  analyser.getFloatTimeDomainData(samples);
  let peak = 0;
  let sum = 0;
  for (const x of samples) {
    peak = Math.max(peak, Math.abs(x));
    sum += x * x;
  }
  return { peak, rms: Math.sqrt(sum / samples.length) };
}

function meterLoop() {
  if (!analyser) return;
  const { peak } = currentLevel();
  const level = Math.max(-60, Math.min(0, dbfs(peak)));
  ui.meter.setAttribute("aria-valuenow", level.toFixed(0));
  ui.meter.setAttribute("aria-valuetext", `${level.toFixed(0)} dB`);
  ui.meterBar.style.width = `${((level + 60) / 60) * 100}%`;
  ui.meter.dataset.clipping = peak >= 0.99 ? "true" : "false";
  const now = performance.now();
  peakHold.push([now, peak]);
  peakHold = peakHold.filter(([t]) => now - t < 3000);
  advise();
  requestAnimationFrame(meterLoop);
}

// Advice from the last three seconds' peak and the measured noise floor.
function advise() {
  const peak = Math.max(0, ...peakHold.map(([, p]) => p));
  const advice = [];
  if (peak >= 0.99) {
    advice.push("Clipping: the loudest sounds are cut off. Move back a little or turn the input down.");
  } else if (peak > 0 && dbfs(peak) < -30) {
    advice.push("Too quiet: move closer to the microphone or turn the input up.");
  }
  if (noiseFloor !== null) {
    advice.push(
      noiseFloor > -50
        ? `Noisy room: the background is at ${noiseFloor.toFixed(0)} dB. Close windows and doors, or find a quieter room.`
        : `The room is quiet enough (${noiseFloor.toFixed(0)} dB).`,
    );
  }
  if (!advice.length && peak > 0) advice.push("The level is good.");
  const text = advice.join(" ");
  if (ui.advice.textContent !== text) ui.advice.textContent = text;
}

function measureNoise() {
  ui.measureNoise.disabled = true;
  ui.advice.textContent = "Measuring the room's noise: please keep quiet for three seconds…";
  const levels = [];
  const started = performance.now();
  const sample = () => {
    levels.push(currentLevel().rms);
    if (performance.now() - started < 3000) {
      setTimeout(sample, 50);
      return;
    }
    // The quietest quarter of the blocks: a chair creaking or a word said does not make
    // a room noisy.
    levels.sort((a, b) => a - b);
    const quiet = levels.slice(0, Math.max(1, Math.floor(levels.length / 4)));
    noiseFloor = dbfs(Math.sqrt(quiet.reduce((s, x) => s + x * x, 0) / quiet.length));
    root.dataset.noiseFloor = noiseFloor.toFixed(1);
    ui.measureNoise.disabled = false;
    advise();
  };
  sample();
}

// --------------------------------------------------------------------------- recording

function recordingType() {
  return MIME_TYPES.find((type) => MediaRecorder.isTypeSupported(type)) || "";
}

function startRecorder(onDone) {
  const type = recordingType();
  const chunks = [];
  recorder = new MediaRecorder(stream, type ? { mimeType: type } : {});
  recorder.addEventListener("dataavailable", (event) => {
    if (event.data.size) chunks.push(event.data);
  });
  recorder.addEventListener("stop", () => {
    recorder = null;
    onDone(new Blob(chunks, { type: type || "audio/webm" }));
  });
  recorder.start();
}

function startTake() {
  if (!stream || mode !== "idle") return;
  showError("");
  mode = "segment";
  const segment = segments[current];
  startRecorder((blob) => upload(segment, blob));
  render();
}

function stopTake() {
  if (mode === "segment" && recorder) recorder.stop();
}

function extensionOf(type) {
  return type.includes("ogg") ? "ogg" : "webm";
}

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST",
    body,
    headers: { "X-CSRFToken": root.dataset.csrf },
    credentials: "same-origin",
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.error || `The server answered ${response.status}.`);
  return data;
}

async function upload(segment, blob) {
  mode = "idle";
  segment.item.dataset.uploading = "true";
  render();
  const body = new FormData();
  body.append("audio", blob, `${segment.id}.${extensionOf(blob.type)}`);
  try {
    const data = await post(root.dataset.takeUrl.replace("SEGMENT", segment.id), body);
    update(data);
  } catch (error) {
    showError(`The take of ${segment.id} was not stored: ${error.message}`);
  } finally {
    delete segment.item.dataset.uploading;
    render();
  }
}

function playBack() {
  const segment = segments[current];
  ui.playback.src = `${root.dataset.takeUrl.replace("SEGMENT", segment.id)}?t=${Date.now()}`;
  ui.playback.play().catch((error) => showError(`Cannot play the take: ${error.message}`));
}

// --------------------------------------------------------------------------- one take

async function startReading() {
  if (!stream || mode !== "idle") return;
  showError("");
  // A fresh stream, so the reading starts with what is said now.
  await openMicrophone(ui.microphone.value || undefined);
  mode = "reading";
  current = 0;
  ui.oneTakeStatus.textContent = "Recording the whole script. Press → or Space at each pause.";
  startRecorder(uploadReading);
  render();
}

function stopReading() {
  if (mode === "reading" && recorder) recorder.stop();
}

async function uploadReading(blob) {
  mode = "splitting";
  ui.oneTakeStatus.textContent = "Cutting the reading into takes…";
  render();
  const body = new FormData();
  body.append("audio", blob, `reading.${extensionOf(blob.type)}`);
  try {
    const data = await post(root.dataset.readingUrl, body);
    update(data);
    const flagged = Object.keys(data.split.flagged);
    ui.oneTakeStatus.textContent = flagged.length
      ? `The reading was cut into ${data.split.segments.length} takes. Marked for a retake: ${flagged.join(", ")}.`
      : `The reading was cut into ${data.split.segments.length} takes.`;
  } catch (error) {
    ui.oneTakeStatus.textContent = "";
    showError(`The reading was not stored: ${error.message}`);
  } finally {
    mode = "idle";
    render();
  }
}

// --------------------------------------------------------------------------- the page

function update(data) {
  ui.progress.textContent = data.progress;
  for (const entry of data.segments) {
    const segment = segments.find((s) => s.id === entry.id);
    if (!segment) continue;
    segment.item.dataset.condition = entry.condition;
    segment.item.querySelector("[data-state]").textContent = entry.label;
  }
}

function go(step) {
  if (mode === "segment") return;
  const next = current + step;
  if (next < 0 || next >= segments.length) {
    if (mode === "reading" && next >= segments.length) stopReading();
    return;
  }
  current = next;
  render();
}

function render() {
  const segment = segments[current];
  if (!segment) return;
  const condition = segment.item.dataset.condition;
  ui.id.textContent = `Segment ${current + 1} of ${segments.length} (${segment.id})`;
  ui.text.textContent = segment.text;
  ui.spoken.hidden = !segment.spoken;
  ui.spoken.textContent = segment.spoken ? `Say: ${segment.spoken}` : "";
  ui.cue.textContent = segment.cue;
  ui.state.textContent = segment.item.querySelector("[data-state]").textContent;
  segments.forEach((s, index) => {
    if (index === current) s.item.setAttribute("aria-current", "step");
    else s.item.removeAttribute("aria-current");
  });
  const recorded = ["ok", "untracked", "stale", "retake"].includes(condition);
  const idle = mode === "idle" && Boolean(stream);
  ui.record.disabled = !idle;
  ui.retake.disabled = !idle || !recorded;
  ui.stop.disabled = mode !== "segment";
  ui.play.disabled = mode !== "idle" || !recorded || Boolean(segment.item.dataset.uploading);
  ui.previous.disabled = mode === "segment" || current === 0;
  ui.next.disabled = mode === "segment" || (mode !== "reading" && current === segments.length - 1);
  ui.oneTake.disabled = !idle;
  ui.oneTakeStop.disabled = mode !== "reading";
  root.dataset.mode = mode;
  root.dataset.current = segment.id;
}

// --------------------------------------------------------------------------- build

let polling = null;

async function startBuild() {
  showError("");
  const body = new FormData();
  body.append("fill", ui.fill.value);
  try {
    showBuild(await post(root.dataset.buildUrl, body));
  } catch (error) {
    showError(`The build could not start: ${error.message}`);
    return;
  }
  clearInterval(polling);
  polling = setInterval(pollBuild, 1000);
}

async function pollBuild() {
  const response = await fetch(root.dataset.buildUrl, { credentials: "same-origin" });
  if (!response.ok) return;
  const data = await response.json();
  showBuild(data);
  if (data.state === "done" || data.state === "failed") clearInterval(polling);
}

function showBuild(data) {
  const busy = data.state === "queued" || data.state === "running";
  ui.build.disabled = busy;
  ui.buildProgress.hidden = !busy;
  if (data.total) {
    ui.buildProgress.max = data.total;
    ui.buildProgress.value = Math.min(data.done, data.total);
  }
  if (busy) {
    ui.buildStatus.textContent = data.total
      ? `Building your track: ${Math.min(data.done, data.total)} of ${data.total} sentences…`
      : "Building your track…";
  } else if (data.state === "failed") {
    ui.buildStatus.textContent = `The build failed: ${data.message}`;
  } else if (data.state === "done") {
    ui.buildStatus.textContent = "Your track is ready.";
    ui.track.src = `${root.dataset.trackUrl}?v=${data.id}`;
    ui.filled.textContent = data.filled.length
      ? `Spoken by a synthetic voice (${data.fill_role}): ${data.filled.join(", ")}`
      : "";
    ui.built.hidden = false;
  }
  root.dataset.build = data.state;
}

// --------------------------------------------------------------------------- wiring

ui.startMic.addEventListener("click", startMicrophone);
ui.microphone.addEventListener("change", () => openMicrophone(ui.microphone.value));
ui.measureNoise.addEventListener("click", measureNoise);
ui.record.addEventListener("click", startTake);
ui.retake.addEventListener("click", startTake);
ui.stop.addEventListener("click", stopTake);
ui.play.addEventListener("click", playBack);
ui.next.addEventListener("click", () => go(1));
ui.previous.addEventListener("click", () => go(-1));
ui.oneTake.addEventListener("click", startReading);
ui.oneTakeStop.addEventListener("click", stopReading);
ui.build.addEventListener("click", startBuild);

document.addEventListener("keydown", (event) => {
  if (event.altKey || event.ctrlKey || event.metaKey) return;
  if (event.target.closest("select, input, textarea, audio")) return;
  if (event.key === " ") {
    event.preventDefault();
    if (mode === "reading") go(1);
    else if (mode === "segment") stopTake();
    else startTake();
  } else if (event.key === "ArrowRight") {
    event.preventDefault();
    go(1);
  } else if (event.key === "ArrowLeft") {
    event.preventDefault();
    go(-1);
  }
});
// A focused button would also take Space as a click when the key comes up.
document.addEventListener("keyup", (event) => {
  if (event.key === " " && !event.target.closest("select, input, textarea, audio")) {
    event.preventDefault();
  }
});

render();
root.dataset.loaded = "true";
