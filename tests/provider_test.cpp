// Copyright 2026 The Nexus Authors. SPDX-License-Identifier: Apache-2.0
