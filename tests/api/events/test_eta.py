"""The ETA model: priors fitted to finished runs, and the estimate as a job goes."""

from api.events.eta import EtaModel, Prior, StageTiming
from tests.utils.factories import make_request


def test_priors_fit_a_fixed_part_and_a_rate_despite_an_odd_run() -> None:
    request = make_request(plan={"targetDurationSeconds": 10}, render={"width": 1000})
    points = [(units, 2.0 + 0.5 * units) for units in (1, 2, 4, 8, 16)] + [(3, 40.0)]
    prior = Prior.fit(points)
    assert abs(prior.fixed - 2.0) < 0.3 and abs(prior.per_unit - 0.5) < 0.05
    model = EtaModel.learn([StageTiming("render", 3.0, request)] * 3, runs_seen=3, overhead=0.6)
    assert abs(model.expected_seconds(request)["render"] - (3.0 + 0.1)) < 1e-6, "a sixth of the overhead"
    assert model.expected_seconds(request, skipped=["render"])["render"] == 0.0
