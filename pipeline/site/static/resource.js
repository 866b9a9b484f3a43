// The resource page, enhanced: the language choice, the chapter list and the transcript.
// Without this script the page still works: the first language plays, and every
// language's files, chapters and transcript are listed one after the other.

const STORAGE_KEY = "voicetrack.locale";
// Regions whose English is closer to British than to American spelling.
const BRITISH_REGIONS = new Set(["GB", "UK", "IE", "AU", "NZ", "ZA", "IN", "SG", "HK", "MT"]);

const page = document.querySelector("[data-resource]");
if (page) enhance(page);

function enhance(page) {
  const audio = page.querySelector("audio[data-player]");
  const select = page.querySelector("#language");
  const choice = page.querySelector("[data-language-choice]");
  const groups = [...page.querySelectorAll("[data-locale]")];
  const options = [...select.options];
  let current = null;
  let textTrack = null;

  document.documentElement.classList.add("enhanced");
  for (const name of page.querySelectorAll(".locale-name")) name.hidden = true;
  choice.hidden = false;
  makeSentencesButtons(page);

  function chooseLocale(locale, { remember = false } = {}) {
    const option = options.find((o) => o.value === locale) || options[0];
    locale = option.value;
    select.value = locale;
    for (const group of groups) group.hidden = group.dataset.locale !== locale;
    if (remember) {
      try {
        localStorage.setItem(STORAGE_KEY, locale);
      } catch {
        // Storage may be off (private windows); the choice then lasts for this page only.
      }
    }
    if (locale === current) return;
    const switching = current !== null;
    current = locale;
    const playing = switching && !audio.paused;
    if (switching || audio.getAttribute("src") !== option.dataset.mp3) {
      audio.src = option.dataset.mp3;
    }
    for (const old of audio.querySelectorAll("track")) old.remove();
    const track = document.createElement("track");
    track.kind = "captions";
    track.src = option.dataset.vtt;
    track.srclang = locale;
    track.label = option.dataset.language;
    track.default = true;
    audio.append(track);
    textTrack = track.track;
    textTrack.mode = "hidden";
    textTrack.addEventListener("cuechange", showCurrentSentence);
    if (switching) {
      audio.load();
      if (playing) audio.play().catch(() => {});
    }
    showCurrentChapter();
    showCurrentSentence();
  }

  // A track turned off in the player's own menu stops giving cues; keep it loaded, hidden.
  audio.textTracks.addEventListener("change", () => {
    if (textTrack && textTrack.mode === "disabled") textTrack.mode = "hidden";
  });

  function visible(selector) {
    return [...page.querySelectorAll(`[data-locale="${current}"] ${selector}`)];
  }

  function seek(seconds) {
    audio.currentTime = seconds;
    if (audio.paused) audio.play().catch(() => {});
  }

  function showCurrentChapter() {
    const links = visible(".chapter-list a[data-start]");
    const now = audio.currentTime;
    let active = null;
    for (const link of links) {
      if (Number(link.dataset.start) <= now + 0.05) active = link;
    }
    for (const link of page.querySelectorAll(".chapter-list a[aria-current]")) {
      if (link !== active) link.removeAttribute("aria-current");
    }
    if (active && !active.hasAttribute("aria-current")) active.setAttribute("aria-current", "true");
  }

  function showCurrentSentence() {
    const ids = new Set();
    if (textTrack && textTrack.activeCues) {
      for (const cue of textTrack.activeCues) ids.add(cue.id);
    }
    for (const sentence of page.querySelectorAll(".cue.current")) {
      if (!ids.has(sentence.dataset.cue)) {
        sentence.classList.remove("current");
        sentence.removeAttribute("aria-current");
      }
    }
    for (const sentence of visible(".cue[data-cue]")) {
      if (ids.has(sentence.dataset.cue) && !sentence.classList.contains("current")) {
        sentence.classList.add("current");
        sentence.setAttribute("aria-current", "true");
      }
    }
  }

  function cueStart(id) {
    const cues = textTrack && textTrack.cues;
    const cue = cues && cues.getCueById(id);
    return cue ? cue.startTime : null;
  }

  page.addEventListener("click", (event) => {
    const chapter = event.target.closest(".chapter-list a[data-start]");
    if (chapter) {
      event.preventDefault();
      seek(Number(chapter.dataset.start));
      showCurrentChapter();
      return;
    }
    const sentence = event.target.closest(".cue[role=button][data-cue]");
    if (sentence) {
      const start = cueStart(sentence.dataset.cue);
      if (start !== null) seek(start);
    }
  });

  select.addEventListener("change", () => chooseLocale(select.value, { remember: true }));
  audio.addEventListener("timeupdate", showCurrentChapter);
  audio.addEventListener("seeked", showCurrentChapter);

  chooseLocale(initialLocale(options.map((o) => o.value)));
}

// Sentences become buttons that seek to their cue; without the script they stay text.
// They keep flowing as text (a <button> element would break the lines into blocks).
function makeSentencesButtons(page) {
  for (const span of page.querySelectorAll("span.cue[data-cue]")) {
    span.setAttribute("role", "button");
    span.tabIndex = 0;
  }
  page.addEventListener("keydown", (event) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    const sentence = event.target.closest && event.target.closest(".cue[role=button]");
    if (!sentence) return;
    event.preventDefault();
    sentence.click();
  });
}

// The remembered choice, else the browser's preferred English, else the first locale.
function initialLocale(locales) {
  let stored = null;
  try {
    stored = localStorage.getItem(STORAGE_KEY);
  } catch {
    stored = null;
  }
  if (stored && locales.includes(stored)) return stored;
  const preferred = navigator.languages && navigator.languages.length
    ? navigator.languages
    : [navigator.language || ""];
  for (const tag of preferred) {
    const exact = locales.find((l) => l.toLowerCase() === tag.toLowerCase());
    if (exact) return exact;
    const [language, region = ""] = tag.split("-");
    if (language.toLowerCase() !== "en") continue;
    const british = BRITISH_REGIONS.has(region.toUpperCase());
    const closest = locales.find((l) => l === (british ? "en-GB" : "en-US"));
    if (closest && region) return closest;
  }
  return locales[0];
}
