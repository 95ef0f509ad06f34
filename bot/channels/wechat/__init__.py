"""The WeChat Official Account channel: `protocol` (signatures, safe XML, AES via wechatpy), `app` (the /wechat
routes), `conversation` (numbered follow-ups, 原文, menus, handoff), `dedup` (retried messages answered once),
`render` (plain text under 2,048 bytes), `api` (access token, customer-service messages, menu), `menu`."""
