import stripe
from django.apps import AppConfig
from django.conf import settings


class BenchConfig(AppConfig):
    name = "bench"
    label = "bench"
    verbose_name = "Benchmark baselines"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # dj-stripe calls stripe-python's module-level client: never Stripe from the bench.
        stripe.api_base = settings.BENCH_STRIPE_API_BASE
        # Off for the throughput table (the product runs only its own handlers there); on for
        # the reliability runs, which need an effect per application to count.
        if settings.BENCH_EFFECT_HANDLER:
            from bench import handlers  # noqa: F401  (registers the handler)
