# `banger system install|uninstall|status` into a temp root, the rendered
# units against systemd-analyze, and `banger doctor` against this machine.
set(_it ${CMAKE_CURRENT_LIST_DIR})
banger_add_script_test(integration_system_install COMMAND bash ${_it}/test_system_install.sh
  LABELS integration TIMEOUT 60)
banger_add_script_test(integration_units COMMAND bash ${_it}/test_units.sh
  LABELS integration TIMEOUT 120)
# Starts netsvc (bridge, nftables table inet banger): kept apart from tests
# that boot VMs.
banger_add_script_test(integration_doctor COMMAND bash ${_it}/test_doctor.sh
  LABELS integration TIMEOUT 120)
set_tests_properties(integration_doctor PROPERTIES RESOURCE_LOCK banger_vm)
# A golden-image build as another user under no_new_privs (the imagesvc
# unit's setting): fakechroot mode, and the refusal without it.
banger_add_script_test(integration_image_build_nnp COMMAND bash ${_it}/test_image_build_nnp.sh
  LABELS integration root TIMEOUT 600)
# The same build by the installed banger-imagesvc unit, under its real
# sandbox, with systemd as PID 1 of a throwaway container.
banger_add_script_test(integration_image_build_unit COMMAND bash ${_it}/test_image_build_unit.sh
  LABELS integration root TIMEOUT 600)
