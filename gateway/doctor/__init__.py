"""``sensorcast doctor``'s diagnostics: the report (``report``) and the board checks it runs (``checks``)."""
