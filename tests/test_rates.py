"""The fps read-outs follow what happens now: a slow-down shows within the window, a reset starts afresh."""

from app.ui.rates import RateMeter


def test_rate_follows_a_slowdown_within_the_window():
    meter, t = RateMeter(window_s=2.0), 0.0
    for _ in range(300):  # 10 s at 30 fps
        t += 1 / 30
        meter.tick(t)
    assert abs(meter.value - 30.0) < 0.5
    for _ in range(2):  # a switch to a model that takes 1.6 s per frame
        t += 1.6
        meter.tick(t)
    assert abs(meter.value - 1 / 1.6) < 0.01


def test_rate_recovers_and_reset_forgets():
    meter, t = RateMeter(window_s=2.0), 0.0
    for _ in range(3):
        t += 1.6
        meter.tick(t)
    for _ in range(70):
        t += 1 / 30
        meter.tick(t)
    assert abs(meter.value - 30.0) < 0.5
    meter.reset()
    assert meter.tick(t + 1.0) == 0.0  # one event after a reset is no rate yet
    assert abs(meter.tick(t + 1.1) - 10.0) < 1e-6
