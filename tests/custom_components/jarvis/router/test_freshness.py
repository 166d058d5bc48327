"""Freshness rule: web-fact questions vs home/device and general-knowledge questions."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from custom_components.jarvis.router.freshness import FRESH_THRESHOLD, assess_freshness

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)

# Labelled by hand: does answering need current facts from the web? Collected in five batches;
# the rules were tuned on the first four, and the fifth (last 25 + 25) was scored blind first
# (recall 0.64, precision 0.94) before its general misses were addressed. "What's the score?"
# stays a known miss: without a team or game named it is ambiguous.
NEEDS_FRESH = [
    "What's the latest news?",
    "Any news about the election?",
    "What are today's headlines",
    "What's the current price of bitcoin?",
    "How is the Nasdaq doing today",
    "What's Apple's stock price right now?",
    "What's the price of PLA filament on Amazon these days?",
    "Who won the Champions League final?",
    "Who won the game last night?",
    "What was the final score of the Lakers game",
    "Did Arsenal win yesterday?",
    "Who is winning the Formula 1 championship",
    "When is the next SpaceX launch?",
    "Who is the current prime minister of the UK?",
    "Who is the president of France",
    "What are the latest election polls",
    "When does the new Zelda game come out?",
    "What's the release date of the next iPhone?",
    "What's the latest version of Klipper firmware?",
    "What's the newest Bambu Lab printer model?",
    "Is Prusa still making the MK4?",
    "Is Twitter still owned by Elon Musk?",
    "What happened in the stock market today?",
    "What's happening in Ukraine right now?",
    "What did Apple announce this week?",
    "What are the best GPUs released in 2026?",
    "What were the biggest tech stories of 2025?",
    "What's the exchange rate from euro to dollar?",
    "What are current mortgage rates",
    "What's the inflation rate right now",
    "What's the weather in Berlin?",
    "Is it raining in London right now?",
    "What's the forecast for Tokyo this weekend",
    "Search the web for Prusa Core One reviews",
    "Can you google the opening hours of the hardware store",
    "Is the hardware store open on Sunday?",
    "Are there any traffic jams on the A9?",
    "Is my flight to Munich delayed?",
    "What's trending on YouTube?",
    "What's the box office number one this week",
    "Did the Fed raise interest rates?",
    "How much does a Prusa Core One cost?",
    "Who is the CEO of OpenAI",
    "Is there a train strike tomorrow?",
    "What's the current world record in the marathon?",
    "What movies are coming out next month?",
    "Tell me the NBA standings",
    "Has the new Raspberry Pi been released yet in 2026?",
    "What's the latest on the Boeing investigation?",
    "Who's leading the Tour de France",
    "Who won the Super Bowl this year?",
    "How did the Bundesliga games go this weekend",
    "What's gold trading at?",
    "Are there any recalls on Anker power banks?",
    "What's new with the James Webb telescope?",
    "Is the Suez Canal open again?",
    "What's the population of Germany in 2026?",
    "Who's playing at Glastonbury this year?",
    "What is ethereum worth today",
    "Any updates on the hurricane in Florida?",
    "What did the Supreme Court decide yesterday?",
    "Is the iPhone 18 out yet?",
    "what's the score in the Yankees game",
    "Look up the latest OctoPrint release notes online",
    "How much is a barrel of oil right now?",
    "What's the Tesla share price?",
    "Who won the Ballon d'Or?",
    "What's going on with the rail strike?",
    "Has the new Prusa XL firmware fixed the MMU bugs?",
    "How much does electricity cost per kWh in Germany now?",
    "What are people saying about the new MacBook?",
    "When is the next general election in the UK?",
    "Is Bambu Lab still selling the X1 Carbon?",
    "What's the weather like in New York today",
    "Which team is top of the Premier League?",
    "Any news on the Artemis mission?",
    "What's the current version of Home Assistant?",
    "How many people attended the World Cup final?",
    "Did anyone win the lottery jackpot last night?",
    "What's the going rate for a used Ultimaker these days?",
    "Are there new tariffs on Chinese 3D printers?",
    "What is the temperature in Madrid right now",
    "Who died today?",
    "Is the heatwave in Spain over?",
    "What are the top songs this week?",
    "How are the markets doing?",
    "Who got eliminated on the show last night?",
    "What's the latest with the Mars rover?",
    "Is Amazon down right now?",
    "What time does the football match start tonight?",
    "Is GitHub having an outage?",
    "What are the gas prices near me?",
    "Which printer won the best budget printer award this year?",
    "How many medals has Germany won at the Olympics so far?",
    "Is there snow in the Alps right now?",
    "What's the status of the Artemis III launch?",
    "Did the new PrusaSlicer version come out?",
    "What's the top story on Hacker News?",
    "Who is the richest person in the world right now?",
    "What's the latest Home Assistant release?",
    "How did the Dow close today?",
    "Who's the current Formula 1 champion?",
    "What's the wait time at the DMV today?",
    "Are flights from Frankfurt cancelled because of the storm?",
    "What is the most recent iOS version?",
    "What's the euro worth against the pound?",
    "Who's in the lead in the Senate race?",
    "Is the new Zelda any good according to reviews?",
    "What's Nvidia trading at today?",
    "Did the Warriors beat the Celtics?",
    "How many COVID cases were reported this week?",
    "Is ChatGPT down?",
    "What's the newest firmware for the Bambu X1C?",
    "Which airlines are on strike?",
    "What's the UV index in Sydney today?",
    "What's the most popular song right now?",
    "Has the bridge on the A7 reopened?",
    "Who is the mayor of New York?",
    "How much is a PlayStation 5 right now?",
    "What's the Bitcoin halving date?",
    "What did the president say in his speech yesterday?",
    "Are there any good deals on filament this week?",
    "What's the latest on the printer tariffs?",
    "Who won Eurovision?",
    "How is the weather in Paris this week?",
    "What new features are in the latest Fusion 360 update?",
    "Is the Louvre open today?",
    "What's the score?",
    "Who's playing in the final tonight?",
    "Did it snow in Chicago yesterday?",
]

NOT_FRESH = [
    "Turn on the workshop lights",
    "What's the temperature in the workshop?",
    "Is the printer done?",
    "What time is it?",
    "What's the date today?",
    "What day is it today",
    "Set the thermostat to 21 degrees",
    "Is the garage door open?",
    "Is the garage door still open?",
    "Lock the back door",
    "How far along is the print?",
    "How long until the print finishes?",
    "What's the latest print status?",
    "Is the compressor still running?",
    "What's the humidity in the storeroom right now?",
    "What's the temperature outside right now?",
    "How much power is the laser cutter using at the moment?",
    "Is anyone in the office?",
    "Start the dust collector",
    "Preheat the printer for PETG",
    "Set a timer for ten minutes",
    "Add filament to the shopping list",
    "What's on my calendar today?",
    "Turn off all the lights in the warehouse",
    "Dim the kitchen lights to 30 percent",
    "Which windows are open?",
    "Did the motion sensor in the loading dock trigger?",
    "What's the current nozzle temperature?",
    "Is the heated bed at temperature yet",
    "What's the energy usage today?",
    "Tell me a joke",
    "What is the capital of France?",
    "How do I calibrate the bed of my 3D printer?",
    "Explain how a stepper motor works",
    "What's 17 times 23?",
    "Convert 3 inches to millimetres",
    "Who wrote Hamlet?",
    "What is the melting point of PLA?",
    "Why is the sky blue?",
    "Good morning Jarvis",
    "Thank you",
    "What can you do?",
    "How many legs does a spider have?",
    "What's the difference between PLA and PETG?",
    "Write a haiku about sawdust",
    "Will it rain tomorrow?",
    "What's the weather like?",
    "Open the blinds in the office",
    "Who is at the front door?",
    "When did the print start?",
    "Is the printer still printing?",
    "What's the current power draw of the CNC?",
    "Summarize the safety rules for the laser cutter",
    "How long does PLA take to dry in a dryer?",
    "What year was the Eiffel Tower built?",
    "Switch off the extractor fan",
    "Is the back door locked?",
    "What's the battery level of the front door lock?",
    "Play some music in the workshop",
    "How hot is the hotend?",
    "What's the CO2 level in the office?",
    "Remind me to check the kiln at 5",
    "What's the status of the 3D printer?",
    "Has the laser finished its job?",
    "Who is the author of Dune?",
    "What's a good infill percentage for a strong part?",
    "How many millimetres are in an inch?",
    "Cancel the print",
    "What is the current temperature in the paint booth?",
    "Is the air compressor on right now?",
    "Turn the fan to high",
    "Is the front gate closed?",
    "What's the filament runout sensor saying?",
    "How much filament is left on the spool?",
    "Open the garage",
    "Is the dehumidifier running in the basement?",
    "What's the electricity usage of the workshop this month?",
    "Show me the camera in the warehouse",
    "What is the speed of light?",
    "How do I level a print bed?",
    "Make the lights warmer",
    "Are the doors locked?",
    "What's the wifi password?",
    "How long has the kiln been on?",
    "Is it cold outside?",
    "Set the heater to eco mode",
    "What is a good temperature for printing ABS?",
    "Give me a recipe for pancakes",
    "How many days until Christmas?",
    "Pause the print on the Prusa",
    "Is the printer bed hot?",
    "Switch the workshop to night mode",
    "What's the level of the water tank?",
    "Is the resin printer finished?",
    "Did someone open the storeroom door?",
    "How warm is it in the garage?",
    "Turn up the volume on the shop speakers",
    "What's the fan speed on the enclosure?",
    "Tell me about the Roman Empire",
    "What's the square root of 144?",
    "How do I sharpen a chisel?",
    "Translate hello into Spanish",
    "What's the time in Sydney?",
    "Is the vacuum docked?",
    "Turn everything off",
    "What's the weather going to be like tomorrow?",
    "Is there any motion in the yard?",
    "How old is the universe?",
    "Which lights are on?",
    "Start a 30 minute timer for the glue",
    "Turn on the lights in the paint booth",
    "What's the temperature of the resin vat?",
    "Is the kiln hot right now?",
    "Close all the blinds",
    "How much time is left on the print?",
    "Who rang the doorbell?",
    "Set the workshop heater to 18",
    "Is the CNC spindle running?",
    "What's the humidity in the filament dry box?",
    "Are any windows open upstairs?",
    "Lock up for the night",
    "How many watts is the 3D printer drawing?",
    "Explain the difference between a router and a shaper",
    "What's the boiling point of acetone?",
    "How do I reset the thermostat?",
    "Remind me tomorrow to order more PETG",
    "Tell me something interesting",
    "What's the current state of the garage door?",
    "How long has the laser been running today?",
    "Is the printer online?",
    "What's 15 percent of 240?",
    "When was the last time the front door opened?",
    "Run the closing-time scene",
    "Is the water heater on?",
    "What is the weather forecast for tomorrow?",
]


def test_labelled_set_is_large_and_balanced() -> None:
    assert len(NEEDS_FRESH) >= 30
    assert len(NOT_FRESH) >= 30
    assert len(NEEDS_FRESH) + len(NOT_FRESH) >= 60
    assert not set(NEEDS_FRESH) & set(NOT_FRESH)


def test_precision_and_recall_on_the_labelled_set() -> None:
    true_pos = sum(assess_freshness(t, now=NOW).needs_fresh for t in NEEDS_FRESH)
    false_pos = [t for t in NOT_FRESH if assess_freshness(t, now=NOW).needs_fresh]
    precision = true_pos / (true_pos + len(false_pos))
    recall = true_pos / len(NEEDS_FRESH)
    assert precision >= 0.9, false_pos
    assert recall >= 0.9


@pytest.mark.parametrize(
    "text",
    [
        "what's the temperature in the workshop",
        "is the printer done",
        "turn on the lights",
        "what time is it",
        "Is the garage door still open?",
        "What's the latest print status?",
        "What's the temperature outside right now?",
        # A printer's temperatures are not weather (these once matched "temperature ... for X").
        "What nozzle temperature for PETG?",
        "What bed temperature for ABS?",
        "Which temperature for PLA at the hotend?",
    ],
)
def test_home_questions_never_match(text: str) -> None:
    report = assess_freshness(text, now=NOW)
    assert not report.needs_fresh
    assert report.score < FRESH_THRESHOLD


def test_home_words_veto_context_cues_and_are_reported() -> None:
    world = assess_freshness("Is Prusa still making the MK4?", now=NOW)
    home = assess_freshness("Is the compressor still running?", now=NOW)
    assert world.needs_fresh
    assert "still" in world.cues
    assert not home.needs_fresh
    assert "still" in home.cues
    assert "home:device" in home.cues


def test_world_cues_are_not_vetoed_by_home_words() -> None:
    report = assess_freshness("What's the latest news about 3D printers?", now=NOW)
    assert report.needs_fresh
    assert "news" in report.cues
    assert "home:device" in report.cues


def test_recent_year_depends_on_now() -> None:
    text = "What were the best laptops of 2025?"
    assert assess_freshness(text, now=NOW).needs_fresh
    assert "recent_year:2025" in assess_freshness(text, now=NOW).cues
    later = datetime(2030, 1, 1, tzinfo=UTC)
    assert not assess_freshness(text, now=later).needs_fresh
    history = assess_freshness("What happened in 1969 on the moon landing day?", now=NOW)
    assert not history.needs_fresh
    assert "past_year:1969" in history.cues
    assert assess_freshness("What happened to the Voyager probe?", now=NOW).needs_fresh


def test_default_now_and_typographic_apostrophes() -> None:
    assert assess_freshness("Who\u2019s winning the Tour de France?").needs_fresh
    assert assess_freshness("what\u2019s the time").needs_fresh is False


def test_deterministic_and_bounded() -> None:
    first = assess_freshness("What's the current price of bitcoin right now?", now=NOW)
    second = assess_freshness("What's the current price of bitcoin right now?", now=NOW)
    assert first == second
    assert 0.0 <= first.score <= 1.0
    assert first.score > 0.9
    empty = assess_freshness("", now=NOW)
    assert empty.score == 0.0
    assert empty.cues == ()
