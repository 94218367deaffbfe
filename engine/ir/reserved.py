"""Names a node may not take: the attributes of ``torch.nn.Module`` (a submodule named ``forward`` or ``to``
would shadow them) and ``input``. Written out, so the IR checks names without importing torch;
tests/test_ops_registry.py checks that the list still covers ``dir(nn.Module)`` of the installed torch."""

RESERVED: frozenset[str] = frozenset({
    'T_destination', '_apply', '_call_impl', '_compiled_call_impl', '_get_backward_hooks', '_get_backward_pre_hooks',
    '_get_name', '_load_from_state_dict', '_maybe_warn_non_full_backward_hook', '_named_members',
    '_register_load_state_dict_pre_hook', '_register_state_dict_hook', '_replicate_for_data_parallel',
    '_save_to_state_dict', '_slow_forward', '_version', '_wrapped_call_impl', 'add_module', 'apply', 'bfloat16',
    'buffers', 'call_super_init', 'children', 'compile', 'cpu', 'cuda', 'double', 'dump_patches', 'eval',
    'extra_repr', 'float', 'forward', 'get_buffer', 'get_extra_state', 'get_parameter', 'get_submodule', 'half',
    'ipu', 'load_state_dict', 'modules', 'mtia', 'named_buffers', 'named_children', 'named_modules',
    'named_parameters', 'parameters', 'register_backward_hook', 'register_buffer', 'register_forward_hook',
    'register_forward_pre_hook', 'register_full_backward_hook', 'register_full_backward_pre_hook',
    'register_load_state_dict_post_hook', 'register_load_state_dict_pre_hook', 'register_module',
    'register_parameter', 'register_state_dict_post_hook', 'register_state_dict_pre_hook', 'requires_grad_',
    'set_extra_state', 'set_submodule', 'share_memory', 'state_dict', 'to', 'to_empty', 'train', 'type', 'xpu',
    'zero_grad',
    "input",
})
