from flows.contract.request import VideoRequest
from flows.models import Script
from flows.providers import script_rules
from flows.providers.script import write_script as write_with
from flows.providers.script_chat import Unreachable
from flows.runtime.reporting import stage_report
from flows.stages import stage_task
from flows.stages.brief import Choices


@stage_task("script", cache=True)
def write_script(request: VideoRequest, choices: Choices) -> Script:
    """Write the scenes and their narration."""
    with stage_report("script") as report:
        report.progress(0, 1, f"writing with {choices.script_writer}")
        try:
            script = write_with(request, choices.chat)
        except Unreachable as exc:
            report.log.warning("script: chat endpoint unreachable (%s); using the offline writer", exc)
            script = script_rules.write_script(request)
        (report.folders.stage("script") / "script.json").write_text(script.model_dump_json(indent=2))
        report.progress(1, 1, f"{len(script.scenes)} scenes, {len(script.sentences())} sentences")
        return script
