"""The connection to a numkeras server: settings, HTTP calls, errors, arrays sent once.

``connect(url, api_key=...)`` sets the connection every client model uses; without it, the
first call reads ``NUMKERAS_URL`` and ``NUMKERAS_API_KEY`` from the environment.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np

from numkeras import backend, wire
from numkeras.utils.progbar import Progbar

__all__ = ["Connection", "connect", "get_connection"]

# Keras words a server message uses for "the model is not compiled".
_NOT_COMPILED = ("must compile your model", "compiled without a loss")
_CHUNK = 16 << 20
_MIN_CHUNK = 1 << 20
_PROGRESS_MIN_BYTES = 1 << 22


class Connection:
    """A numkeras server and an API key; the HTTP pool and the arrays uploaded so far.

    Args:
        url: The server, e.g. ``http://127.0.0.1:8000``.
        api_key: The key ``numkeras keys create`` (or the first ``numkeras serve``) printed.
        timeout: Seconds to wait for a reply (event streams wait without limit).
    """

    def __init__(self, url: str, api_key: str | None = None, timeout: float = 300.0) -> None:
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"connect: url must be an http(s) URL, got {url!r}.")
        self.url = url.rstrip("/")
        self.api_key = api_key
        headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.http = httpx.Client(base_url=self.url + "/v1", headers=headers, timeout=timeout)
        # Content hash of an array group -> the dataset reference that holds it.
        self._datasets: dict[tuple, dict[str, Any]] = {}
        self.chunk_bytes = _CHUNK
        self._streams: bool | None = None

    def close(self) -> None:
        self.http.close()

    def __repr__(self) -> str:
        return f"Connection({self.url!r})"

    # ----------------------------------------------------------------------- HTTP
    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """One call; a 4xx/5xx becomes ValueError / RuntimeError, a network failure a
        ConnectionError naming the URL."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise ConnectionError(f"Cannot reach the numkeras server at {self.url}: {e}") from None
        check(response)
        return response

    def json(self, method: str, path: str, **kwargs: Any) -> Any:
        return self.request(method, path, **kwargs).json()

    def stream_events(self, job_id: str) -> Iterator[tuple[int, str, dict[str, Any]]]:
        """The job's server-sent events ``(id, type, data)`` until its final ``status``;
        a dropped stream is resumed from the last event seen."""
        last = 0
        while True:
            try:
                with self.http.stream("GET", f"/jobs/{job_id}/events",
                                      headers={"Last-Event-ID": str(last)},
                                      timeout=httpx.Timeout(30.0, read=None)) as response:
                    if response.status_code >= 400:
                        response.read()
                        check(response)
                    event: dict[str, str] = {}
                    for line in response.iter_lines():
                        if line:
                            if not line.startswith(":"):
                                key, _, value = line.partition(":")
                                event[key] = value[1:] if value.startswith(" ") else value
                            continue
                        if "data" in event:
                            last = int(event.get("id", last))
                            yield last, event.get("event", "message"), json.loads(event["data"])
                        event = {}
                return
            except (httpx.RemoteProtocolError, httpx.ReadError):
                continue
            except httpx.TransportError as e:
                raise ConnectionError(
                    f"Cannot reach the numkeras server at {self.url}: {e}") from None

    @property
    def streams_batches(self) -> bool:
        """Whether the server takes batches pushed to a running job (``stream: true``)."""
        if self._streams is None:
            try:
                paths = self.http.get(self.url + "/openapi.json").json().get("paths", {})
            except (httpx.HTTPError, ValueError):
                paths = {}
            self._streams = "/v1/jobs/{job_id}/batches" in paths
        return self._streams

    def push_batch(self, job_id: str, arrays: dict[str, np.ndarray]) -> None:
        """Queues one batch on a streamed job, waiting while the server's queue is full."""
        body = wire.encode_arrays(arrays)
        while True:
            try:
                response = self.http.post(f"/jobs/{job_id}/batches", content=body,
                                          headers={"Content-Type": wire.NPZ_MEDIA_TYPE})
            except httpx.TransportError as e:
                raise ConnectionError(
                    f"Cannot reach the numkeras server at {self.url}: {e}") from None
            if response.status_code != 429:
                check(response)
                return

    # --------------------------------------------------------------------- arrays
    def data_ref(self, data: Any, verbose: int = 0) -> dict[str, Any] | None:
        """A ``DataRef`` (``{"dataset_id", "arrays"}``) for one array, a list or a dict of
        arrays, uploading them unless this connection sent the same content before."""
        if data is None:
            return None
        if isinstance(data, dict):
            keys = [str(k) for k in data]
            arrays = [_plain(v, f"[{k!r}]") for k, v in data.items()]
        elif isinstance(data, (list, tuple)):
            keys, arrays = None, [_plain(v, f"[{i}]") for i, v in enumerate(data)]
        else:
            keys, arrays = None, [_plain(data, "")]
        names = [f"a{i}" for i in range(len(arrays))]
        kind = "dict" if keys is not None else "list" if isinstance(data, (list, tuple)) else "one"
        key = (kind, tuple(keys or ()), tuple(_digest(a) for a in arrays))
        if key not in self._datasets:
            dataset_id = self.upload(dict(zip(names, arrays, strict=True)), verbose)
            spec: Any = (dict(zip(keys, names, strict=True)) if keys is not None
                         else names if kind == "list" else names[0])
            self._datasets[key] = {"dataset_id": dataset_id, "arrays": spec}
        return self._datasets[key]

    def upload(self, arrays: dict[str, np.ndarray], verbose: int = 0) -> str:
        """Uploads named arrays as one dataset; returns its id.

        This is the one place that sends dataset bytes: a body up to one chunk goes in one
        request; a larger one through the server's chunked upload when it offers one (each
        chunk halved on a 413, for servers with a small request limit), else in one request.
        The npz body is streamed from the arrays' memory (``wire.NpzStream``), one chunk at
        a time.
        """
        body = wire.NpzStream(arrays)
        bar = (Progbar(len(body), verbose=1, unit_name="byte")
               if verbose and len(body) >= _PROGRESS_MIN_BYTES else None)
        if len(body) > self.chunk_bytes:
            dataset_id = self._upload_chunked(body, bar)
            if dataset_id is not None:
                return dataset_id
        dataset_id = self.json("POST", "/datasets", content=body.getvalue(),
                               headers={"Content-Type": wire.NPZ_MEDIA_TYPE})["id"]
        if bar is not None:
            bar.update(len(body))
        return dataset_id

    def _upload_chunked(self, body: wire.NpzStream, bar: Progbar | None) -> str | None:
        """The chunked upload; None if the server has no such route."""
        try:
            response = self.http.post("/datasets/uploads", json={"size": len(body)})
        except httpx.TransportError as e:
            raise ConnectionError(f"Cannot reach the numkeras server at {self.url}: {e}") from None
        if response.status_code in (404, 405):
            return None
        check(response)
        upload = response.json()
        offset, size = 0, self.chunk_bytes
        try:
            while offset < len(body):
                response = self.http.put(
                    f"/datasets/uploads/{upload['id']}", params={"offset": offset},
                    content=body.read(offset, size),
                    headers={"Content-Type": "application/octet-stream"})
                if response.status_code == 413 and size > _MIN_CHUNK:
                    size //= 2
                    self.chunk_bytes = size
                    continue
                check(response)
                offset = response.json()["received"]
                if bar is not None:
                    bar.update(offset)
            return self.json("POST", f"/datasets/uploads/{upload['id']}/finalize")["id"]
        except httpx.TransportError as e:
            raise ConnectionError(f"Cannot reach the numkeras server at {self.url}: {e}") from None
        except BaseException:
            try:
                self.http.delete(f"/datasets/uploads/{upload['id']}")
            except httpx.HTTPError:
                pass
            raise


def _plain(value: Any, where: str) -> np.ndarray:
    array = np.asarray(value)
    if array.dtype.hasobject:
        raise ValueError(f"Array{where} has dtype object: only numeric arrays can be sent to "
                         "the server.")
    if array.dtype == np.float64:
        array = array.astype(backend.floatx())
    return np.ascontiguousarray(array)


def _digest(array: np.ndarray) -> str:
    h = hashlib.sha1(usedforsecurity=False)  # the fastest hashlib digest on most CPUs
    h.update(f"{array.dtype.str}{array.shape}".encode())
    h.update(memoryview(array).cast("B"))
    return h.hexdigest()


def check(response: httpx.Response) -> None:
    """Raises the Keras-style error of a failed response (nothing for a success)."""
    if response.status_code < 400:
        return
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text}
    message = body.get("message") if isinstance(body, dict) else None
    if message is None and isinstance(body, dict) and "detail" in body:
        detail = body["detail"]
        message = (detail if isinstance(detail, str) else
                   "; ".join(f"{'.'.join(str(p) for p in d.get('loc', []))}: {d.get('msg')}"
                             for d in detail if isinstance(d, dict)))
    message = message or f"HTTP {response.status_code} from {response.request.url}"
    raise error_for(message, response.status_code)


def error_for(message: str, status: int = 422) -> Exception:
    """The exception Keras raises for a server message (``RuntimeError`` for "not compiled")."""
    for prefix, cls in (("RuntimeError: ", RuntimeError), ("ValueError: ", ValueError),
                        ("TypeError: ", TypeError)):
        if message.startswith(prefix):
            return cls(message[len(prefix):])
    if any(words in message for words in _NOT_COMPILED):
        return RuntimeError(message)
    if status >= 500:
        return RuntimeError(f"The numkeras server failed (HTTP {status}): {message}")
    return ValueError(message)


_default: Connection | None = None


def connect(url: str | None = None, api_key: str | None = None) -> Connection:
    """Sets (and returns) the server every client model talks to.

    Args:
        url: The server's URL; defaults to ``NUMKERAS_URL``.
        api_key: The API key; defaults to ``NUMKERAS_API_KEY``.

    Raises:
        ValueError: when no URL is given and ``NUMKERAS_URL`` is not set.
    """
    global _default
    url = url or os.environ.get("NUMKERAS_URL")
    if not url:
        raise ValueError("connect: no server URL: pass connect(url, api_key=...) or set "
                         "NUMKERAS_URL (and NUMKERAS_API_KEY).")
    if api_key is None:
        api_key = os.environ.get("NUMKERAS_API_KEY")
    # Models already bound to the previous connection keep using it.
    _default = Connection(url, api_key)
    return _default


def get_connection() -> Connection:
    """The current connection, made from the environment on first use."""
    return _default if _default is not None else connect()
