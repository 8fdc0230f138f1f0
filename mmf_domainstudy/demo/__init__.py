"""The embedded default study's data: easy-vqa and what the demo derives from it."""
from mmf_domainstudy.demo.prepare import prepare_demo_data

__all__ = ["prepare_demo_data"]
