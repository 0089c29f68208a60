"""gridbench bench layer: devices, scenario, chain, store; never imports Qt."""
