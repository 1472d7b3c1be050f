"""fashion-resnet50: a timm ResNet-50 with four classification heads for fashion product photos.

Importing this package registers the classes with the transformers Auto classes and the
`fashion-attributes` pipeline task, and marks them so that `save_pretrained` writes `auto_map` and
copies this code next to the weights (for `trust_remote_code=True` loading where the package is absent).
"""

from transformers import AutoConfig, AutoImageProcessor, AutoModel
from transformers.pipelines import PIPELINE_REGISTRY

from .configuration_fashion_resnet import DEFAULT_HEAD_SIZES, FashionResNetConfig, is_timm_architecture
from .image_processing_fashion_resnet import FashionImageProcessor, ImageLoadError, load_rgb_image
from .modeling_fashion_resnet import IGNORE_INDEX, FashionResNetModel, FashionResNetOutput, multi_head_loss
from .pipeline_fashion_attributes import FashionAttributesPipeline

__all__ = [
    "DEFAULT_HEAD_SIZES",
    "IGNORE_INDEX",
    "TASK",
    "FashionAttributesPipeline",
    "FashionImageProcessor",
    "FashionResNetConfig",
    "FashionResNetModel",
    "FashionResNetOutput",
    "ImageLoadError",
    "is_timm_architecture",
    "load_rgb_image",
    "multi_head_loss",
]

TASK = "fashion-attributes"

AutoConfig.register(FashionResNetConfig.model_type, FashionResNetConfig, exist_ok=True)
AutoModel.register(FashionResNetConfig, FashionResNetModel, exist_ok=True)
# One implementation (PIL fit, torch normalisation) answers whichever backend is asked for; transformers asks
# for torchvision by default and would otherwise warn that it is missing.
AutoImageProcessor.register(
    FashionResNetConfig,
    image_processor_classes={"pil": FashionImageProcessor, "torchvision": FashionImageProcessor},
    exist_ok=True,
)
PIPELINE_REGISTRY.register_pipeline(TASK, pipeline_class=FashionAttributesPipeline, pt_model=AutoModel, type="image")

FashionResNetConfig.register_for_auto_class()
FashionResNetModel.register_for_auto_class("AutoModel")
FashionImageProcessor.register_for_auto_class("AutoImageProcessor")
