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
