"""Freshness: does a request need current web facts (news, prices, results) or is it about the home.

Logprobs cannot tell stale knowledge from real knowledge (a local model answers an old election
result just as confidently), so freshness is its own rule: requests that need current web facts
go to the fresh-facts tier (Perplexity) and skip the local model.

Deterministic cue matching over the lower-cased text, three kinds of cue:
- world cues (news, markets, "price of", sports results, elections, "latest version", weather
  in a named place...) are about the world whatever else the text mentions;
- context cues ("latest", "current", "right now", "is X still", "this year", a recent year...)
  mean "fresh" only when the text is not about the home;
- home cues (commands, device and room words, date/time questions) veto context cues;
- an explicit year >= now.year - 1 is a context cue; only older years damp the context cues
  (a history question).

score = 1 - (1 - world) * (1 - context * (1 - home)), each part a noisy-or (world, context) or
the maximum (home) of its cue weights; needs_fresh when score >= FRESH_THRESHOLD.
Weather and forecasts for the home itself are not fresh: HA's weather entities answer them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
import re

FRESH_THRESHOLD = 0.5
RECENT_YEAR_WEIGHT = 0.8  # a year >= now.year - 1 is a context cue
PAST_YEAR_DAMPING = 0.3  # only older years: context cues count this much


@dataclass(frozen=True, slots=True)
class FreshnessReport:
    """needs_fresh: route to the fresh-facts tier; cues name what matched (home cues as home:*)."""

    needs_fresh: bool
    score: float
    cues: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Cue:
    name: str
    pattern: re.Pattern[str]
    weight: float


def _cue(name: str, pattern: str, weight: float) -> _Cue:
    return _Cue(name, re.compile(pattern), weight)


_ROOMS = (
    r"workshop|warehouse|kitchen|bedroom|bathroom|living ?room|basement|attic|hallway|office|"
    r"shop floor|garage|loading dock|storeroom|store room|paint booth|cellar|porch|yard|garden|"
    r"upstairs|downstairs|inside|outside|here|home|the house"
)

_WORLD_CUES: tuple[_Cue, ...] = (
    _cue(
        "web_search",
        r"\bsearch (the )?(web|internet|online)\b|\b(look (it |that )?up|check) online\b|\bgoogle\b",
        0.95,
    ),
    _cue("news", r"\bnews\b|\bheadlines?\b", 0.9),
    _cue(
        "markets",
        r"\b(stock|share)s? (price|prices|market|value)\b|\bstock market\b|\b(bitcoin|btc|"
        r"ethereum|crypto|cryptocurrency|dogecoin|solana|nasdaq|dow jones|s&p ?500|ftse|dax|"
        r"nikkei|dow|stocks|the markets|stock exchange)\b|\bexchange rate\b|\binterest rates?\b|\binflation\b|\bmortgage rates?\b|"
        r"\btrading at\b|\bworth (against|in)\b|\b(gold|silver|oil|copper|lithium|gas|petrol|gasoline|diesel) prices?\b|"
        r"\bbarrel of oil\b",
        0.9,
    ),
    _cue(
        "price_of",
        r"\bprices? (of|for)\b|\bgoing rate\b|\bhow much (is|are|does|do) .{1,60}\b(cost|sell)",
        0.85,
    ),
    _cue(
        "sports",
        r"\bwho won\b|\bwho (is|'s) winning\b|\beliminated\b|\bawards?\b|\b(football|soccer|"
        r"basketball|baseball|hockey|tennis|rugby|cricket|golf) (match|game|score|results?|team)\b|\bwho will win\b|\bfinal score\b|"
        r"\b(score|scores|result|results) (of|in|from|for) (the |last night's |yesterday's |"
        r"today's |this weekend's )?([a-z0-9'-]+ ){0,3}(game|match|race|final|derby|grand prix)\b|\b(nba|nfl|nhl|mlb|"
        r"premier league|bundesliga|la liga|champions league|world cup|super bowl|formula (1|one)|"
        r"f1|grand prix|olympics|wimbledon|tour de france|world series|stanley cup)\b|"
        r"\bstandings\b|\bdid .{1,40} (win|lose|beat)\b",
        0.9,
    ),
    _cue(
        "politics",
        r"\b(election|elections|referendum|polls|vote count|supreme court|parliament|congress|"
        r"senate|white house|president|prime minister|government|tariffs?|sanctions|new laws?)\b|\bwho (is|'s) (the )?(current )?"
        r"(president|prime minister|chancellor|ceo|pope|mayor|governor|leader)\b",
        0.9,
    ),
    _cue(
        "release",
        r"\brelease date\b|\bwhen (does|will|is|do|are) .{1,50}\b(come out|coming out|be released|"
        r"released|launch|launching|on sale)\b|\b(came out|released|launched|announced) (this|last) "
        r"(week|month|year)\b|\b(latest|newest|current) ([a-z0-9-]+ ){0,3}(version|release|firmware|"
        r"model|update|iphone|gpu)s?\b",
        0.85,
    ),
    _cue(
        "events",
        r"\btrending\b|\bbox office\b|\b(richest|most valuable|most popular|highest[- ]paid)\b|"
        r"\b(deals|discounts|sales) (on|for)\b|\btraffic\b|\b(flight|train)s? .{0,30}\b(delayed|cancelled|"
        r"canceled|on time|status)\b|\bstrikes?\b|\bearthquake\b|\bwildfires?\b|\bpassed away\b|"
        r"\bdied\b|\bstill alive\b|\brecalls?\b|\b(hurricane|typhoon|cyclone|tornado|flood|"
        r"floods|tsunami|eruption|storm warning|heatwave|heat wave|drought)\b|\b(top|best-selling|"
        r"bestselling) (songs|albums|books|movies|films|charts|sellers)\b|\bcharts\b|\bout yet\b|\b(released|available) yet\b",
        0.85,
    ),
    _cue(
        "weather_elsewhere",
        # A printer's temperatures ("nozzle temperature for PETG") are not weather.
        r"\b(weather|forecast|(?<!nozzle )(?<!bed )(?<!hotend )(?<!chamber )(?<!extruder )"
        r"temperature|rain|raining|snow|snowing|sunny|uv index|pollen)\b.{0,25}"
        r"\b(in|for|at) (the )?(?!(the|my|our|this|a|celsius|fahrenheit|degrees|kelvin|today|"
        r"pla|petg|pctg|abs|asa|tpu|nylon|pc|hips|pva|resin|filament|printing|printer|hotend|"
        r"nozzle|bed|extruder|chamber|"
        r"tonight|tomorrow|weekend|week|next|morning|afternoon|evening|noon|night|"
        + _ROOMS
        + r")\b)"
        r"(?![a-z]*ing\b)[a-z]{3,}",
        0.8,
    ),
)

_CONTEXT_CUES: tuple[_Cue, ...] = (
    _cue("latest", r"\blatest\b|\bnewest\b|\bmost recent\b|\bjust (announced|released)\b", 0.7),
    _cue(
        "current_fact",
        r"\bcurrent ([a-z]+ )?(price|prices|rate|rates|champion|leader|record|situation|state of|"
        r"holder|owner|ceo|standings)\b",
        0.8,
    ),
    _cue("current", r"\bcurrent(ly)?\b", 0.35),
    _cue(
        "right_now",
        r"\bright now\b|\bat the moment\b|\bthese days\b|\bnowadays\b|\bas of now\b",
        0.35,
    ),
    _cue("today", r"\b(today|tonight|yesterday|this morning|last night)('s)?\b", 0.3),
    _cue("this_period", r"\b(this|last|next) (year|month|week|weekend|season)\b", 0.4),
    _cue(
        "still",
        r"\b(is|are|was) .{1,40}? still\b|\bstill (open|in business|running for|the)\b",
        0.6,
    ),
    _cue(
        "happening",
        r"\bwhat( is|'s| was)? (happened|happening|going on) (to|in|at|with)\b",
        0.7,
    ),
    _cue("announcement", r"\bannounce(d|ment|ments)?\b|\bunveil(ed)?\b", 0.5),
    _cue(
        "whats_new",
        r"\bwhat's new (with|in|at|on|from)\b|\bany (updates?|news) (on|about)\b|\bupdates? on\b",
        0.6,
    ),
    _cue(
        "opinion",
        r"\b(people|critics|reviewers) (are )?saying\b|\breviews? (of|for)\b|\bthe new [a-z0-9]+",
        0.5,
    ),
    _cue("again", r"\b(open|closed|back|working|online) again\b|\breopen(ed|s)?\b", 0.5),
    _cue("reported", r"\b(reported|confirmed) (this|last|so far|today|yesterday)\b", 0.6),
    _cue("who_plays", r"\bwho('s| is| are) (playing|performing|headlining)\b", 0.6),
    _cue(
        "how_much_now",
        r"\bhow much (is|are) (a|an|one|the) [a-z0-9 ]{1,40}\b(right now|today|now|these days|at the "
        r"moment)\b",
        0.6,
    ),
    _cue("coming_out", r"\b(coming out|premiering|in theaters|in cinemas)\b", 0.6),
    _cue(
        "upcoming",
        r"\bupcoming\b|\bnext (launch|game|match|race|election|episode|event)\b|\blaunch(es)?\b",
        0.7,
    ),
    _cue("outage", r"\b(is|are) [a-z0-9.]+ down\b|\boutages?\b", 0.6),
    _cue("wait_time", r"\bwait(ing)? times?\b|\bqueues?\b", 0.6),
    _cue(
        "open_now", r"\b(is|are) .{1,40} open (today|now|right now|on sunday|on monday|late)\b", 0.6
    ),
)

_HOME_CUES: tuple[_Cue, ...] = (
    _cue(
        "command",
        r"^((hey |ok |okay )?jarvis,? )?(please )?((can|could|would|will) you (please )?)?(turn|switch|"
        r"set|dim|brighten|open|close|shut|lock|unlock|start|stop|pause|resume|cancel|activate|"
        r"deactivate|arm|disarm|toggle|run|preheat|cool|heat|raise|lower|increase|decrease|mute|"
        r"unmute|play|add|remind|notify|announce to|home|park|calibrate|level)\b",
        0.9,
    ),
    _cue(
        "device",
        r"\b(lights?|lamps?|switch(es)?|plugs?|outlets?|fans?|heaters?|thermostats?|hvac|air ?con|"
        r"doors?|locks?|locked|blinds?|covers?|curtains?|shutters?|windows?|sensors?|cameras?|"
        r"printers?|print|prints|printing|print job|filament|nozzle|extruder|hotend|heated bed|"
        r"bed temp(erature)?|laser( cutter)?|cnc|compressor|vacuum|speakers?|tv|volume|alarm|siren|"
        r"batter(y|ies)|power (usage|consumption|draw)|energy (usage|consumption)|dehumidifier|"
        r"timers?|reminders?|shopping list|to-?do|calendar|boiler|sprinkler|irrigation|"
        r"ventilation|extractor|dust collector|spindle|enclosure|octoprint|klipper|moonraker|"
        r"motion|occupancy|anyone|somebody|someone)\b",
        0.8,
    ),
    _cue("room", r"\b(" + _ROOMS + r")\b", 0.6),
    _cue("climate", r"\b(temperature|humidity|co2|air quality)\b", 0.5),
    _cue(
        "clock",
        r"\bwhat time is it\b|\bwhat('s| is) the time\b|\bwhat('s| is) (the |today's )?(date|day)\b|"
        r"\bwhat day is (it|today)\b|\btime is it\b|\bwhich day is it\b",
        0.9,
    ),
    _cue("possessive", r"\b(my|our)\b", 0.3),
)

_YEAR = re.compile(r"\b(19\d{2}|20\d{2})\b")
_SPACES = re.compile(r"\s+")


def _normalise(text: str) -> str:
    text = text.lower().replace("\u2019", "'").replace("\u2018", "'")
    return _SPACES.sub(" ", text).strip()


def _noisy_or(weights: list[float]) -> float:
    miss = 1.0
    for weight in weights:
        miss *= 1.0 - weight
    return 1.0 - miss


def assess_freshness(text: str, *, now: datetime | None = None) -> FreshnessReport:
    """Classify one request; deterministic for a given text and `now` (default: current UTC)."""
    normalised = _normalise(text)
    year_now = (now or datetime.now(UTC)).year
    cues: list[str] = []
    world: list[float] = []
    context: list[float] = []
    for cue in _WORLD_CUES:
        if cue.pattern.search(normalised):
            cues.append(cue.name)
            world.append(cue.weight)
    for cue in _CONTEXT_CUES:
        if cue.pattern.search(normalised):
            cues.append(cue.name)
            context.append(cue.weight)
    years = [int(y) for y in _YEAR.findall(normalised)]
    if recent := [y for y in years if y >= year_now - 1]:
        cues.append(f"recent_year:{recent[0]}")
        context.append(RECENT_YEAR_WEIGHT)
    elif years:  # only past years: a history question, "what happened in 1969"
        cues.append(f"past_year:{years[0]}")
        context = [w * PAST_YEAR_DAMPING for w in context]
    home = 0.0
    for cue in _HOME_CUES:
        if cue.pattern.search(normalised):
            cues.append(f"home:{cue.name}")
            home = max(home, cue.weight)
    score = 1.0 - (1.0 - _noisy_or(world)) * (1.0 - _noisy_or(context) * (1.0 - home))
    score = round(score, 4)
    return FreshnessReport(needs_fresh=score >= FRESH_THRESHOLD, score=score, cues=tuple(cues))
