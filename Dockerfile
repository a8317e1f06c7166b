# One image for the api, worker, scheduler and migrate services; the command picks the role.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY activities ./activities
COPY api ./api
COPY application ./application
COPY bench ./bench
COPY cli ./cli
COPY config ./config
COPY db ./db
COPY demo ./demo
COPY domain ./domain
COPY evidence ./evidence
COPY messages ./messages
COPY notifier ./notifier
COPY observability ./observability
COPY pacing ./pacing
COPY platform_webhooks ./platform_webhooks
COPY risk ./risk
COPY scheduler ./scheduler
COPY support ./support
COPY twilio_sandbox ./twilio_sandbox
COPY workflows ./workflows
COPY worker.py ./
RUN pip install . && useradd --create-home refundwatch \
    && mkdir -p /var/lib/refundwatch/evidence && chown -R refundwatch /var/lib/refundwatch
USER refundwatch
ENV REFUNDWATCH_LOG_FORMAT=json
EXPOSE 8000
CMD ["refundwatch", "api", "--host", "0.0.0.0", "--port", "8000"]
