from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_POST

from playground.datasets import ingest, services
from playground.datasets.forms import UploadForm
from trainer import user_data
from trainer.datasets import DatasetError
from trainer.sizing import format_bytes


def contents(dataset) -> str:
    """What a dataset holds, for its row: classes and counts, or a ratings table's size."""
    meta = dataset.meta
    if dataset.kind == "ratings":
        return f"{meta.get('samples', 0):,} ratings by {meta.get('num_users', 0):,} users of {meta.get('num_items', 0):,} items"
    return ", ".join(f"{c['name']} ({c['count']})" for c in meta.get("classes", []))


@login_required
def datasets_page(request):
    """Your datasets, and an upload form; the same checks and refusals as POST /api/v1/datasets/."""
    form = UploadForm(request.POST or None, request.FILES or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                dataset = services.create_dataset(request.user, form.cleaned_data["name"], upload.name, upload.read(),
                                                  form.cleaned_data["kind"] or None, form.options())
            except ingest.IngestError as exc:
                form.add_error(exc.field if exc.field in form.fields else "file", exc.message)
                status = exc.status
            else:
                messages.info(request, f"Uploaded “{dataset.name}” (version {dataset.version}): jobs name it "
                                       f"user:{dataset.pk}.")
                return redirect("datasets")
        else:
            status = 400
    rows = [{"dataset": d, "bytes": format_bytes(d.size), "classes": contents(d)}
            for d in services.own_datasets(request.user)]
    return render(request, "datasets/list.html", {"form": form, "rows": rows}, status=status)


@login_required
def new_dataset_page(request):
    """Capture an images dataset in the browser (drawings, webcam frames); the page's script zips the
    samples and POSTs them to /api/v1/datasets/, so the API's checks are the only ones."""
    return render(request, "datasets/new.html")


@login_required
@require_POST
def delete_dataset(request, pk: int):
    dataset = get_object_or_404(services.own_datasets(request.user), pk=pk)
    services.delete_dataset(dataset)
    messages.info(request, f"Deleted “{dataset.name}” (version {dataset.version}).")
    return redirect("datasets")


@login_required
@cache_control(private=True, max_age=3600)
def dataset_preview(request, pk: int):
    """A PNG of an images dataset's first samples, a row per class (the page's thumbnails). A
    dataset never changes (a new upload is a new id), so the browser may keep it."""
    dataset = get_object_or_404(services.own_datasets(request.user), pk=pk)
    try:
        with dataset.file.open("rb") as stored:
            grid = user_data.preview(stored)
    except (DatasetError, OSError) as exc:
        raise Http404("This dataset has no preview.") from exc
    from PIL import Image

    image = Image.fromarray(grid[..., 0] if grid.shape[-1] == 1 else grid)
    response = HttpResponse(content_type="image/png")
    image.save(response, format="PNG")
    return response
