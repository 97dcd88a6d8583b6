# -*- coding: utf-8 -*-
# Copyright: (c) 2026, wgsplit.gateway developers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function
__metaclass__ = type


class ModuleDocFragment(object):
    """Author and attributes that every wgsplit.gateway module shares (they all stand on netstate.StateModule)."""

    DOCUMENTATION = r'''
options: {}
author:
  - wgsplit.gateway developers (@wgsplit)
attributes:
  check_mode:
    description: Reads the kernel state, computes and reports the change, and changes nothing.
    support: full
  diff_mode:
    description: Returns the state before and after (keys hidden) in C(diff).
    support: full
  platform:
    description: Linux hosts with the kernel tools this module drives.
    support: full
    platforms: linux
'''

    # The modules that only read (split_info, split_pending). List it before wgsplit.gateway.attributes: the fragment
    # merged first keeps its values.
    READ_ONLY = r'''
options: {}
attributes:
  check_mode:
    description: The module only reads; check mode runs it unchanged.
    support: full
  diff_mode:
    description: Nothing ever changes, so there is no difference to report.
    support: full
'''
