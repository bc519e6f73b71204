"""Prefect Block types that configure the providers: fields only.

Register them with `prefect block register -m blocks`, save a document in
the Prefect UI or in code (`ChatScriptWriter(...).save("my-llm")`), and name it
in a job's `providers`. A job that names no provider uses the offline defaults,
which need no block at all. The flow's providers (`flows.providers`) read these
fields; nothing here knows the flows.
"""

from prefect.blocks.core import Block

from blocks.script import ChatScriptWriter, RuleScriptWriter
from blocks.visuals import SlideVisuals
from blocks.voice import EspeakVoice, PiperVoice

__all__ = ["PROVIDER_BLOCKS", "ChatScriptWriter", "EspeakVoice", "PiperVoice", "RuleScriptWriter", "SlideVisuals"]

PROVIDER_BLOCKS: dict[str, tuple[type[Block], ...]] = {
    "script": (ChatScriptWriter, RuleScriptWriter),
    "voice": (PiperVoice, EspeakVoice),
    "visuals": (SlideVisuals,),
}
