"""Request and response bodies of the REST API (the OpenAPI contract at /docs)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
JobKind = Literal["fit", "evaluate", "predict"]


class Error(BaseModel):
    """Every error: a code, a message a person can act on, the argument at fault if any."""

    error: str
    message: str
    argument: str | None = None


class Health(BaseModel):
    status: Literal["ok"]
    version: str
    workers: int
    workers_alive: int


class ModelCreate(BaseModel):
    """A Keras 2 functional model, as ``model.to_json()`` writes it (object or JSON text)."""

    model_config = ConfigDict(extra="forbid")
    config: dict[str, Any] | str = Field(
        description='The Keras model JSON: {"class_name": "Model", "config": {...}}.')


class ModelInfo(BaseModel):
    id: str
    name: str
    input_names: list[str]
    output_names: list[str]
    input_shapes: list[Any]
    output_shapes: list[Any]
    count_params: int
    compiled: bool
    metrics_names: list[str]
    training_config: dict[str, Any] | None
    created_at: float
    updated_at: float


class ModelDetail(ModelInfo):
    summary: str
    config: dict[str, Any]


class CompileRequest(BaseModel):
    """``model.compile`` arguments as Keras JSON: names or ``{"class_name", "config"}``."""

    model_config = ConfigDict(extra="forbid")
    optimizer: str | dict[str, Any] = "rmsprop"
    loss: Any = None
    metrics: Any = None
    loss_weights: list[float] | dict[str, float] | None = None
    sample_weight_mode: str | list[str | None] | dict[str, str | None] | None = None
    weighted_metrics: Any = None


class CompileResult(BaseModel):
    training_config: dict[str, Any]
    metrics_names: list[str]


class Layer(BaseModel):
    index: int
    name: str
    class_name: str
    config: dict[str, Any]
    input_shape: Any
    output_shape: Any
    trainable: bool
    count_params: int
    weights: list[dict[str, Any]]


class ArrayInfo(BaseModel):
    shape: list[int]
    dtype: str


class Dataset(BaseModel):
    id: str
    name: str | None
    arrays: dict[str, ArrayInfo]
    size_bytes: int
    created_at: float


class UploadCreate(BaseModel):
    """A chunked upload of an (uncompressed) npz archive: the dataset's ``name`` and,
    optionally, the archive's total ``size`` in bytes (then finalize checks it is complete)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(None, max_length=200)
    size: int | None = Field(None, ge=1)


class Upload(BaseModel):
    """A chunked upload in progress: send the next chunk at ``offset == received``."""

    id: str
    name: str | None
    size: int | None
    received: int
    created_at: float
    updated_at: float
    expires_at: float


class DataRef(BaseModel):
    """Arrays of an uploaded dataset: one name, a list (one per model input / output, in order)
    or a dict (model input / output name -> array name)."""

    model_config = ConfigDict(extra="forbid")
    dataset_id: str
    arrays: str | list[str] | dict[str, str]


class ValidationData(BaseModel):
    """``validation_data=(x_val, y_val[, val_sample_weights])``."""

    model_config = ConfigDict(extra="forbid")
    x: DataRef
    y: DataRef
    sample_weight: DataRef | None = None


class CallbackConfig(BaseModel):
    """A built-in Keras callback that is pure configuration, run by the worker during a fit:
    ``{"class_name": "EarlyStopping", "config": {"monitor": "val_loss", "patience": 2}}``.
    ``EarlyStopping``, ``ReduceLROnPlateau`` and ``TerminateOnNaN`` are accepted."""

    model_config = ConfigDict(extra="forbid")
    class_name: str
    config: dict[str, Any] = Field(default_factory=dict)


class LearningRate(BaseModel):
    """A new learning rate for the compiled optimizer; its state (momenta) is kept."""

    model_config = ConfigDict(extra="forbid")
    learning_rate: float = Field(ge=0, allow_inf_nan=False)


class OptimizerInfo(BaseModel):
    optimizer_config: dict[str, Any]


class JobCreate(BaseModel):
    """A ``fit`` / ``evaluate`` / ``predict`` call and its Keras arguments.

    With ``stream: true`` the data is not a dataset but batches that the client pushes to
    ``POST /v1/jobs/{id}/batches`` while the job runs (``fit_generator`` /
    ``evaluate_generator`` / ``predict_generator``): ``x``, ``y`` and ``sample_weight`` are
    then absent, ``steps_per_epoch`` (fit) or ``steps`` (evaluate, predict) is required,
    ``max_queue_size`` bounds the batches waiting on the server, and a job that waits more
    than ``batch_timeout`` seconds for a batch fails. Validation data of a streamed fit comes
    from datasets.

    ``callbacks`` (fit only) are built-in callbacks that are pure configuration, run by the
    worker (``CallbackConfig``); callbacks made of the caller's code, ``workers`` and
    ``use_multiprocessing`` only have a meaning in the caller's process and are not part of the
    request; ``verbose`` is accepted and ignored (progress is in the job's events).
    """

    model_config = ConfigDict(extra="forbid")
    kind: JobKind
    model_id: str
    stream: bool = False
    x: DataRef | None = None
    y: DataRef | None = None
    sample_weight: DataRef | None = None
    batch_size: int | None = Field(None, ge=1)
    epochs: int | None = Field(None, ge=0)
    validation_split: float | None = Field(None, ge=0.0, lt=1.0)
    validation_data: ValidationData | None = None
    shuffle: bool | Literal["batch"] | None = None
    class_weight: dict[str, float] | None = None
    initial_epoch: int | None = Field(None, ge=0)
    steps_per_epoch: int | None = Field(None, ge=1)
    validation_steps: int | None = Field(None, ge=1)
    validation_freq: int | list[int] | None = None
    steps: int | None = Field(None, ge=1)
    max_queue_size: int | None = Field(None, ge=1, le=1000)
    batch_timeout: float | None = Field(None, gt=0, le=86400)
    callbacks: list[CallbackConfig] | None = None
    verbose: Any = None


class Job(BaseModel):
    id: str
    kind: JobKind
    model_id: str
    status: JobStatus
    error: str | None
    cancel_requested: bool
    progress: dict[str, Any] | None
    worker_pid: int | None
    created_at: float
    started_at: float | None
    finished_at: float | None
    stream: bool = False


class BatchStream(BaseModel):
    """The batch queue of a streamed job: batches ``pushed`` by the client, ``consumed`` by
    the worker, ``queued`` (waiting, at most ``max_queue_size``), and whether the client
    signalled the end of its data."""

    job_id: str
    pushed: int
    consumed: int
    queued: int
    max_queue_size: int
    ended: bool
    status: JobStatus


class HistoryOut(BaseModel):
    """``History``: ``history`` (name -> per-epoch values), ``epoch`` and ``params``."""

    history: dict[str, list[Any]]
    epoch: list[int]
    params: dict[str, Any]


class KerasResult(BaseModel):
    """What the Keras method returns (``result``: a scalar or a list in ``metrics_names``
    order) and the same values by name (``logs``). Non-finite values are "NaN", "Infinity"."""

    result: Any
    metrics_names: list[str]
    logs: dict[str, Any]
